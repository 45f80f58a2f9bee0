"""An agent's published cards, and its presence held apart from the processes serving it.

:func:`published_cards` builds the cards exactly as an agent publishes them (MQTT
interface, routing extension, ubsp-v1 declaration, signature last), for
:class:`~a2a_mqtt.server.agent.AgentServer` and for :class:`AgentPresence`.

:class:`AgentPresence` is what ``serve_agents(..., workers=N)``'s supervising parent
runs: one MQTT session per agent under the agent's own Client ID (``org/unit/agent``,
the one ACLs and EMQX's registry expect to publish the card), holding the will that
marks the card offline, and publishing it online and offline. The workers carry no
will and publish no card, so a worker that dies and is restarted never flickers the
card; only the supervisor's death (or a graceful stop) marks the agent offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, prepare_card
from a2a_mqtt.binding.topics import discovery_topic
from a2a_mqtt.errors import TransportError
from a2a_mqtt.mqtt_types import PublishProperties, Will
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.transport.base import MqttTransport, TransportFactory, default_transport

__all__ = ["AgentPresence", "PublishedCards", "published_cards"]

log = logging.getLogger("a2a_mqtt.server")


@dataclass(frozen=True, kw_only=True)
class PublishedCards:
    card: AgentCard
    """The agent card as published."""
    extended: AgentCard | None
    """The extended card (GetExtendedAgentCard), prepared and signed like the card."""
    payload: bytes
    """``card`` encoded, as retained on the discovery topic."""
    pool_payload: bytes
    """The pool card encoded (empty when the agent joins no pool)."""


def published_cards(cfg: AgentConfig) -> PublishedCards:
    """The cards ``cfg``'s agent publishes; deterministic for a given config."""
    public = cfg.public_broker_url or cfg.connection.display_url()
    card = prepare_card(cfg.card, ref=cfg.ref, broker_url=public, pool=cfg.pool_ref)
    extended = None
    if cfg.extended_card is not None:
        card.capabilities.extended_agent_card = True
        extended = prepare_card(cfg.extended_card, ref=cfg.ref, broker_url=public)
        extended.capabilities.extended_agent_card = True
    if cfg.e2e is not None:
        card = cfg.e2e.declare(card)
    if cfg.card_signer is not None:
        # Last: the signature covers the card exactly as published.
        card = cfg.card_signer.sign(card)
        extended = cfg.card_signer.sign(extended) if extended is not None else None
    pool_payload = b""
    if cfg.pool_ref is not None:
        pool_card = prepare_card(cfg.pool_card or cfg.card, ref=cfg.pool_ref, broker_url=public)
        if cfg.e2e is not None:
            pool_card = cfg.e2e.declare(pool_card)
        if cfg.card_signer is not None:
            pool_card = cfg.card_signer.sign(pool_card)
        pool_payload = encode_card(pool_card)
    return PublishedCards(card=card, extended=extended, payload=encode_card(card),
                          pool_payload=pool_payload)


def offline_will(cfg: AgentConfig, payload: bytes) -> Will:
    """The will every agent session that owns the card carries (docs/binding.md §5.5)."""
    return Will(topic=discovery_topic(cfg.ref), payload=payload, qos=1, retain=True,
                properties=PublishProperties(
                    user_properties=P.status_properties("offline", "lwt")))


class _Presence:
    """One agent's card session (see the module docstring)."""

    def __init__(self, cfg: AgentConfig, factory: TransportFactory) -> None:
        self.config = cfg
        self.payload = published_cards(cfg).payload
        # No session to keep: this connection subscribes to nothing, so it starts clean.
        self.transport: MqttTransport = factory(cfg.connection.connect_options(
            client_id=cfg.ref.client_id, clean_start=True, session_expiry=0,
            will=offline_will(cfg, self.payload)))
        self.online = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.transport.on_connection_change(self._on_connection_change)

    def _on_connection_change(self, up: bool) -> None:
        # The will may have replaced the card while we were away: say online again.
        if up and self.online:
            task = asyncio.create_task(self.publish("online"),
                                       name=f"a2a-mqtt[{self.config.ref}].presence")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def publish(self, status: str) -> None:
        props = PublishProperties(user_properties=P.status_properties(status, "agent"))
        try:
            await self.transport.publish(discovery_topic(self.config.ref), self.payload, qos=1,
                                         retain=True, properties=props)
        except TransportError as exc:
            log.warning("could not publish %s card of %s: %s", status, self.config.ref, exc)


class AgentPresence:
    """The cards and wills of ``configs``, held by one process; see the module docstring.

    ``async with`` connects (the wills armed); :meth:`announce` publishes the cards
    online; leaving publishes them offline, then disconnects without the will.
    """

    def __init__(self, configs: Sequence[AgentConfig], *,
                 transport_factory: TransportFactory | None = None) -> None:
        factory = transport_factory or default_transport
        self._agents = [_Presence(c, factory) for c in configs]

    @property
    def connected(self) -> bool:
        return all(a.transport.connected for a in self._agents)

    def fds(self) -> list[int]:
        """The sessions' socket descriptors now (for a forked child to close)."""
        found = []
        for agent in self._agents:
            fileno = getattr(agent.transport, "fileno", None)
            fd = fileno() if callable(fileno) else -1
            if isinstance(fd, int) and fd >= 0:
                found.append(fd)
        return found

    async def __aenter__(self) -> AgentPresence:
        try:
            await asyncio.gather(*(a.transport.connect() for a in self._agents))
        except BaseException:
            await asyncio.gather(*(a.transport.disconnect() for a in self._agents),
                                 return_exceptions=True)
            raise
        return self

    async def announce(self) -> None:
        """Cards online (once the processes serving them are subscribed)."""
        for agent in self._agents:
            agent.online = True
        await asyncio.gather(*(a.publish("online") for a in self._agents))

    async def withdraw(self) -> None:
        """Cards offline (first thing in a graceful stop: requesters stop sending)."""
        announced = [a for a in self._agents if a.online]
        for agent in announced:
            agent.online = False
        await asyncio.gather(*(a.publish("offline") for a in announced if a.transport.connected))

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.withdraw()
        await asyncio.gather(*(a.transport.disconnect() for a in self._agents),
                             return_exceptions=True)
