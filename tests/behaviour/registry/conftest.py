"""Helpers for registry behaviour tests, all on the per-test Mosquitto.

* ``start_registry(url, **config)``: a RegistryServer on a free HTTP port (no A2A agent
  unless ``agent_ref`` is given), stopped at exit.
* ``publisher``: a plain MQTT connection for retained cards, garbage and deletions.
* ``Changes``: waits on a registry's change feed for the changes a test expects, in
  order, with a bound -- never a sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest_asyncio

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.registry import Change, RegistryConfig, RegistryServer
from a2a_mqtt.registry.feed import FeedSubscription
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, PublishProperties
from a2a_mqtt.transport.base import BrokerURL


@asynccontextmanager
async def start_registry(url: str, **config: Any) -> AsyncIterator[RegistryServer]:
    config.setdefault("http_port", 0)
    config.setdefault("agent_ref", None)
    transport_factory = config.pop("transport_factory", None)
    async with RegistryServer(RegistryConfig(connection=ConnectionSettings(url=url), **config),
                              transport_factory=transport_factory) as server:
        yield server


class Publisher:
    """Publishes retained cards (or anything) on discovery topics."""

    def __init__(self, transport: Mqtt5Transport) -> None:
        self.transport = transport

    async def card(self, ref: AgentRef | str, body: bytes, *, status: str = "online",
                   source: str = "agent") -> None:
        topic = ref if isinstance(ref, str) else discovery_topic(ref)
        props = PublishProperties(user_properties=P.status_properties(status, source))
        await self.transport.publish(topic, body, qos=1, retain=True, properties=props)

    async def delete(self, ref: AgentRef | str) -> None:
        topic = ref if isinstance(ref, str) else discovery_topic(ref)
        await self.transport.publish(topic, b"", qos=1, retain=True)


@pytest_asyncio.fixture
async def publisher(broker: MosquittoProcess, unique_id: str) -> AsyncIterator[Publisher]:
    options = ConnectOptions(url=BrokerURL.parse(broker.url), client_id=f"pub-{unique_id}")
    async with Mqtt5Transport(options) as transport:
        yield Publisher(transport)


class Changes:
    """Reads one registry's change feed from the moment it is created."""

    def __init__(self, server: RegistryServer) -> None:
        self.sub: FeedSubscription = server.service.feed.subscribe()

    async def next(self, timeout: float = 10.0) -> Change:
        item = await self.sub.next(timeout)
        assert isinstance(item, Change), f"expected a change, got {item!r}"
        return item

    async def until(self, predicate: Callable[[Change], bool], timeout: float = 20.0,
                    limit: int = 10_000) -> Change:
        """The first change satisfying ``predicate`` (others are skipped)."""
        for _ in range(limit):
            change = await self.next(timeout)
            if predicate(change):
                return change
        raise AssertionError("no matching change")

    def close(self) -> None:
        self.sub.close()
