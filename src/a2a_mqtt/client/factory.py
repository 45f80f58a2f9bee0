"""Plugging the MQTT transport into a2a-sdk's ClientFactory, and the A2AMqttClient facade."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from a2a.client import Client, ClientConfig, ClientFactory
from a2a.client.interceptors import ClientCallInterceptor
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding.card import BINDING_ALIASES, BINDING_URI, routing_ref
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.discovery import AgentEntry, Discovery
from a2a_mqtt.client.requester import Requester
from a2a_mqtt.client.transport import MqttClientTransport
from a2a_mqtt.errors import DiscoveryError

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["MQTT_LABELS", "A2AMqttClient", "AgentLookup", "register_mqtt_transport"]


class AgentLookup(Protocol):
    """Where :class:`A2AMqttClient` resolves agents instead of reading retained cards:
    :class:`a2a_mqtt.registry.RegistryClient` is one. Declared here, on the side that
    uses it, so the client does not depend on the registry."""

    async def resolve(self, ref: AgentRef | str, *, timeout: float = 5.0) -> AgentEntry: ...

    async def find(self, *, timeout: float = 5.0, **filters: Any) -> AgentEntry: ...

    async def aclose(self) -> None: ...

MQTT_LABELS: tuple[str, ...] = (BINDING_URI, *BINDING_ALIASES)


def register_mqtt_transport(factory: ClientFactory, requester: Requester,
                            *, default_agent: AgentRef | None = None) -> None:
    """Register the MQTT transport under our binding URI and its aliases.

    The producer routes by the card's routing extension, or ``default_agent``
    for cards without one (a v0.1 peer's card read from elsewhere).
    """
    def produce(card: AgentCard, url: str, config: ClientConfig) -> MqttClientTransport:
        agent = routing_ref(card) or default_agent
        if agent is None:
            raise ValueError(f"card {card.name!r} does not say which MQTT agent it is "
                             "(no routing extension); pass default_agent")
        return MqttClientTransport(requester=requester, agent=agent, card=card)

    for label in MQTT_LABELS:
        factory.register(label, produce)


class A2AMqttClient:
    """One connection for discovering agents and calling them with a2a-sdk's Client.

    ::

        async with A2AMqttClient(RequesterConfig(broker_url=url)) as mqtt:
            entry = await mqtt.discovery.find(tag="inspection")
            client = mqtt.client_for(entry)
            async for event in client.send_message(request):
                ...
    """

    def __init__(self, config: RequesterConfig | None = None, *, org: str | None = None,
                 unit: str | None = None, discover: bool | None = None,
                 registry: AgentLookup | None = None, metrics: Metrics | None = None) -> None:
        """``registry`` (e.g. ``RegistryClient(url)``, docs/registry.md) resolves agents
        instead of reading every retained card; the client closes it on exit.
        ``discover`` (default: only without a registry) subscribes to the retained cards
        on this connection."""
        self.requester = Requester(config, metrics=metrics)
        self.discovery = Discovery(self.requester, org=org, unit=unit)
        self._discover = registry is None if discover is None else discover
        self.registry = registry

    async def __aenter__(self) -> A2AMqttClient:
        await self.requester.start()
        try:
            if self._discover:
                await self.discovery.start()
        except BaseException:
            await self.requester.close()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.requester.close()
        if self.registry is not None:
            await self.registry.aclose()

    async def resolve(self, ref: AgentRef | str, *, timeout: float = 5.0) -> AgentEntry:
        """The entry for ``ref``: from the registry when one is configured, else discovery."""
        if self.registry is not None:
            return await self.registry.resolve(ref, timeout=timeout)
        return await self.discovery.resolve(ref, timeout=timeout)

    async def find(self, *, timeout: float = 5.0, **filters: Any) -> AgentEntry:
        """The first online agent matching ``filters`` (skill, tag, name, org, unit)."""
        if self.registry is not None:
            return await self.registry.find(timeout=timeout, **filters)
        return await self.discovery.find(timeout=timeout, **filters)

    def client_for(self, target: AgentEntry | AgentCard, *, streaming: bool = True,
                   interceptors: list[ClientCallInterceptor] | None = None) -> Client:
        """An a2a-sdk Client for a discovered agent (or any card with an MQTT interface)."""
        if isinstance(target, AgentEntry):
            if target.card is None:
                raise DiscoveryError(f"{target.ref} has no usable card: {target.problems}")
            card, default = target.card, target.ref
        else:
            card, default = target, None
        factory = ClientFactory(ClientConfig(streaming=streaming,
                                             supported_protocol_bindings=list(MQTT_LABELS)))
        register_mqtt_transport(factory, self.requester, default_agent=default)
        return factory.create(card, interceptors=interceptors)

    async def connect(self, ref: AgentRef | str, *, streaming: bool = True,
                      timeout: float = 5.0) -> Client:
        """Resolve ``org/unit/agent`` through discovery and return a Client for it."""
        return self.client_for(await self.resolve(ref, timeout=timeout), streaming=streaming)

    def transport_for(self, ref: AgentRef | str, card: AgentCard | None = None
                      ) -> MqttClientTransport:
        """A bare ClientTransport for ``ref``, no discovery needed."""
        agent = AgentRef.parse(ref) if isinstance(ref, str) else ref
        return MqttClientTransport(requester=self.requester, agent=agent, card=card)
