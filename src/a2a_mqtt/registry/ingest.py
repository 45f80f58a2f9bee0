"""Ingest: one MQTT session that feeds the discovery namespace into the index.

Lifecycle:

1. connect (clean start, no session expiry: the index is rebuilt from the
   retained cards, never from a stored session), subscribing to the discovery
   filters of the configured scope and to our own reply topic;
2. the broker replays every retained card; a *barrier* -- a message we
   publish to ourselves after subscribing -- arrives after all of them (the
   broker keeps per-connection order), which marks the index complete;
   (the cyclic garbage collector is paused meanwhile, see :meth:`Ingest.start`);
3. live *retained* publishes update the index as they come (on the event loop,
   in order). The card subscriptions use Retain As Published, so a live message
   keeps its publisher's retain flag: a non-retained publish on a discovery
   topic changes nothing on the broker, so it changes nothing here either
   (:func:`index_message`);
4. after every reconnect the broker replays the retained cards again: the
   index notes what the replay delivers and, at the next barrier, removes what
   it did not (cards deleted while we were away).

Cards are subscribed at QoS 1 on purpose: a broker that limits its per-client
queue (Mosquitto's default ``max_queued_messages 1000``) truncates a large
replay; at QoS 1 the barrier queued behind it is dropped too, so start-up fails
loudly, where a QoS 0 replay would lose cards and still pass the barrier.

A payload that breaks anything is logged and counted; the handler never
raises, so one bad message never stops indexing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
import uuid
from collections.abc import Callable

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef, discovery_filters, discovery_topic, reply_filter
from a2a_mqtt.binding.topics import reply_topic as make_reply_topic
from a2a_mqtt.mqtt_types import (
    IncomingMessage,
    PublishProperties,
    Subscription,
    TransportStats,
)
from a2a_mqtt.registry.config import RegistryConfig
from a2a_mqtt.registry.entry import Change
from a2a_mqtt.registry.errors import RegistryError
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.transport.base import MqttTransport, TransportFactory, default_transport

__all__ = ["Ingest", "TransportFactory", "index_message"]

log = logging.getLogger("a2a_mqtt.registry")


def index_message(index: RegistryIndex, msg: IncomingMessage, now: float) -> list[Change] | None:
    """Apply one message of a discovery subscription (Retain As Published) to ``index``.

    Returns the changes it made, or None for a message that is not retained
    state (ignored: the index is a function of the latest retained message
    per topic, and a non-retained publish does not replace it on the broker).
    """
    if not msg.retain:
        return None
    status, source = P.status_of(msg.properties)
    return index.apply(msg.topic, msg.payload, status, source, now)


class Ingest:
    """Keeps ``index`` equal to the retained cards in scope; reports changes to ``publish``."""

    def __init__(self, config: RegistryConfig, index: RegistryIndex, *,
                 publish: Callable[[list[Change]], None],
                 transport_factory: TransportFactory | None = None,
                 stats: TransportStats | None = None) -> None:
        self.config = config
        self._stats = stats
        self.index = index
        self._publish = publish
        self._factory = transport_factory or default_transport
        self._transport: MqttTransport | None = None
        self._identity: AgentRef = config.ingest_ref
        self._sync_topic = make_reply_topic(self._identity, "sync")
        self._barriers: dict[bytes, asyncio.Future[None]] = {}
        self._resync: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()
        self.replay_seconds: float | None = None
        self.replay_cards = 0
        self.errors = 0
        self.ignored = 0
        """Non-retained messages on discovery topics (never indexed)."""
        self.resyncs = 0

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._transport.connected

    async def start(self) -> None:
        """Connect, subscribe and return once every retained card in scope is indexed."""
        if self._transport is not None:
            raise RuntimeError("Ingest is already started (not reentrant)")
        cfg = self.config
        options = cfg.connection.connect_options(
            client_id=self._identity.client_id, clean_start=True, session_expiry=0,
            # The barrier's PUBACK arrives behind the whole retained replay: it may take as
            # long as the replay itself.
            ack_timeout=max(30.0, cfg.sync_timeout))
        if self._stats is not None:
            options = dataclasses.replace(options, stats=self._stats)
        transport = self._factory(options)
        await transport.subscribe(Subscription(reply_filter(self._identity), qos=1),
                                  self._on_sync)
        for topic_filter in discovery_filters(cfg.org, cfg.unit):
            await transport.subscribe(Subscription(topic_filter, qos=1, retain_as_published=True),
                                      self._on_card)
        transport.on_connection_change(self._on_connection_change)
        self._transport = transport
        started = time.perf_counter()
        # The replay allocates millions of objects that all stay alive; the cyclic GC
        # would traverse them again and again (about a fifth of the index's CPU).
        # Index objects hold no reference cycles, so pausing it frees nothing late.
        collecting = gc.isenabled()
        gc.disable()
        try:
            await transport.connect()
            try:
                await self.barrier(cfg.sync_timeout)
            except TimeoutError:
                raise RegistryError(
                    "the retained cards were not all delivered within "
                    f"{time.perf_counter() - started:.0f} s "
                    f"({len(self.index.entries) + len(self.index.rejected)} so far). A broker "
                    "that queues a limited number of messages per client drops the rest of a "
                    "large retained replay: on Mosquitto set 'max_queued_messages 0' (its "
                    "default of 1000 is too small for a registry)") from None
        except BaseException:
            self._transport = None
            await transport.disconnect()
            raise
        finally:
            if collecting:
                gc.enable()
        self.replay_seconds = time.perf_counter() - started
        self.replay_cards = len(self.index.entries) + len(self.index.rejected)
        self.synced.set()
        log.info("registry indexed %d cards (%d rejected) in %.2f s", len(self.index.entries),
                 len(self.index.rejected), self.replay_seconds)

    async def stop(self) -> None:
        transport, self._transport = self._transport, None
        if self._resync is not None:
            self._resync.cancel()
            await asyncio.gather(self._resync, return_exceptions=True)
            self._resync = None
        if transport is not None:
            await transport.disconnect()

    async def barrier(self, timeout: float = 10.0) -> None:
        """Return once everything the broker sent us before this call has been indexed."""
        transport = self._require()
        corr = uuid.uuid4().hex.encode()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers[corr] = future
        try:
            async with asyncio.timeout(timeout):
                await transport.publish(self._sync_topic, b"", qos=1,
                                        properties=PublishProperties(correlation_data=corr))
                await future
        finally:
            self._barriers.pop(corr, None)

    async def publish_card(self, ref: AgentRef, payload: bytes, *, status: str = "online",
                           source: str = "registry") -> None:
        """Retain ``payload`` as the card of ``ref`` (empty: delete it), then wait until the
        index has seen it."""
        props = PublishProperties(user_properties=P.status_properties(status, source)
                                  if payload else ())
        await self._require().publish(discovery_topic(ref), payload, qos=1, retain=True,
                                      properties=props)
        await self.barrier()

    def _require(self) -> MqttTransport:
        if self._transport is None:
            raise RuntimeError("Ingest is not started")
        return self._transport

    # -- on the event loop, per message ---------------------------------------------

    def _on_card(self, msg: IncomingMessage) -> None:
        try:
            changes = index_message(self.index, msg, time.time())
        except Exception:
            self.errors += 1
            log.exception("registry could not index the message on %r", msg.topic)
            return
        if changes is None:
            self.ignored += 1
        elif changes:
            self._publish(changes)

    def _on_sync(self, msg: IncomingMessage) -> None:
        corr = msg.properties.correlation_data
        future = self._barriers.get(corr) if corr is not None else None
        if future is not None and not future.done():
            future.set_result(None)

    def _on_connection_change(self, up: bool) -> None:
        if not up or not self.synced.is_set():
            return
        # A reconnect: the new session replays every retained card from here on, so the
        # sweep must start now, before any of them is read (we are inside the CONNACK).
        self.index.begin_sweep()
        if self._resync is not None:
            self._resync.cancel()
        self._resync = asyncio.get_running_loop().create_task(
            self._finish_resync(), name=f"a2a-mqtt[{self._identity}].resync")

    async def _finish_resync(self) -> None:
        try:
            await self.barrier(self.config.sync_timeout)
        except Exception as exc:  # TimeoutError included; a later reconnect sweeps again
            self.index.cancel_sweep()
            log.warning("registry resync after reconnect did not complete: %r", exc)
            return
        changes = self.index.end_sweep(time.time())
        self.resyncs += 1
        log.info("registry resynchronised after reconnect (%d cards gone meanwhile)",
                 len(changes))
        if changes:
            self._publish(changes)
