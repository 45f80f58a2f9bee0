"""Discovery: which MCP servers are online, watched through retained presence.

:class:`PresenceWatch` is the handler half (shared with the client transport,
which watches its chosen server on its own connection); :class:`ServerDirectory`
is a connection of its own for listing and watching servers.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Self

from a2a_mqtt.errors import DiscoveryError
from a2a_mqtt.mcp import topics, wire
from a2a_mqtt.mcp.config import DirectoryConfig
from a2a_mqtt.mcp.presence import PresenceBook, PresenceEvent
from a2a_mqtt.mqtt_types import IncomingMessage, Subscription
from a2a_mqtt.transport.base import MqttTransport

__all__ = ["DirectoryConfig", "PresenceWatch", "ServerDirectory", "list_servers"]

# Retained presences arrive in one burst right after SUBACK; once this long has
# passed without another, the burst is taken to be over.
_QUIET = 0.05
_QUIET_CAP = 0.5


class PresenceWatch:
    """A :class:`PresenceBook` fed by a transport handler, with waits for changes."""

    def __init__(self) -> None:
        self.book = PresenceBook()
        self._changed = asyncio.Event()
        self._last_change = time.monotonic()
        self._listeners: list[Callable[[PresenceEvent], None]] = []

    def listen(self, callback: Callable[[PresenceEvent], None]) -> None:
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[PresenceEvent], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def handle(self, msg: IncomingMessage) -> None:
        event = self.book.update(msg.topic, msg.payload)
        if event is None:
            return
        self._last_change = time.monotonic()
        self._changed.set()
        self._changed = asyncio.Event()
        for callback in self._listeners:
            callback(event)

    async def wait_change(self, timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            await self._changed.wait()

    async def settle(self) -> None:
        """Return once presences have stopped arriving for a moment (bounded)."""
        started = time.monotonic()
        while time.monotonic() - started < _QUIET_CAP:
            remaining = _QUIET - (time.monotonic() - max(self._last_change, started))
            if remaining <= 0:
                return
            try:
                await self.wait_change(remaining)
            except TimeoutError:
                return

    async def wait_for(self, server_name: str, timeout: float) -> list[wire.ServerOnline]:
        """The live instances of ``server_name`` once at least one is known."""
        deadline = time.monotonic() + timeout
        while not self.book.is_online(server_name):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DiscoveryError(f"no MCP server named {server_name!r} is online")
            try:
                await self.wait_change(remaining)
            except TimeoutError:
                continue
        await self.settle()
        return self.book.instances(server_name)


class ServerDirectory:
    """Watch server presence under name filters (or the broker's CONNACK filters)."""

    def __init__(self, *, config: DirectoryConfig) -> None:
        self._config = config
        self.watch = PresenceWatch()
        self._transport: MqttTransport | None = None
        self.client_id = f"mcpd-{secrets.token_hex(8)}"
        self.filters: tuple[str, ...] = config.name_filters

    async def __aenter__(self) -> Self:
        cfg = self._config
        options = cfg.connection.connect_options(
            client_id=self.client_id,
            user_properties=wire.connect_properties("mcp-client",
                                                    {"implementation": "a2a-mqtt", **cfg.meta}),
        )
        transport = cfg.transport_factory(options)
        await transport.connect()
        self._transport = transport
        hints = wire.connack_hints(getattr(transport, "connack_user_properties", ()))
        if hints.server_name_filters:
            self.filters = hints.server_name_filters  # the spec makes them binding
        try:
            for name_filter in self.filters:
                await transport.subscribe(
                    Subscription(topics.server_presence_filter(name_filter), qos=1),
                    self.watch.handle)
        except BaseException:
            await transport.disconnect()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.disconnect()

    async def settled(self) -> list[wire.ServerOnline]:
        """Every known instance once the retained burst is over."""
        await self.watch.settle()
        return self.watch.book.all()

    async def events(self) -> AsyncIterator[PresenceEvent]:
        """Presence changes from now on, in arrival order."""
        queue: asyncio.Queue[PresenceEvent] = asyncio.Queue()
        self.watch.listen(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            self.watch.unlisten(queue.put_nowait)


async def list_servers(config: DirectoryConfig) -> list[wire.ServerOnline]:
    """One-shot listing of the servers online under ``config.name_filters``."""
    async with ServerDirectory(config=config) as directory:
        await directory.watch.settle()
        return directory.watch.book.all()
