"""The client side: an ``mcp.client.Transport`` that reaches an MCP server over MQTT.

Each transport is one MCP session and, as the spec requires a fresh client id
per ``initialize``, one MQTT connection of its own:

1. CONNECT as a new ``mcp-client-id`` whose Will is ``notifications/disconnected``
   on ``$mcp-client/presence/{client-id}``;
2. watch ``$mcp-server/presence/+/{name}`` and choose a live instance (or the
   pinned ``server_id``);
3. subscribe that instance's capability topic and the session's RPC topic
   (No Local), then hand the SDK its streams: the first message written (the
   ``initialize`` request) goes to the control topic, roots list-changed to our
   capability topic, everything else to the RPC topic;
4. the server going offline (empty presence), sending
   ``notifications/disconnected``, or our own connection dropping (our Will
   ended the session server-side) ends the read stream, so pending requests
   fail at once instead of timing out;
5. exit: ``notifications/disconnected`` on our presence topic, DISCONNECT.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client import ClientSession
from mcp.shared.message import SessionMessage

from a2a_mqtt.errors import DiscoveryError
from a2a_mqtt.mcp import topics, wire
from a2a_mqtt.mcp.config import McpClientConfig
from a2a_mqtt.mcp.discovery import PresenceWatch
from a2a_mqtt.mcp.presence import PresenceChange, PresenceEvent
from a2a_mqtt.mqtt_types import IncomingMessage, Subscription, Will
from a2a_mqtt.transport.base import MqttTransport

__all__ = ["McpClientConfig", "McpMqttTransport", "open_session"]

log = logging.getLogger(__name__)

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception],
                MemoryObjectSendStream[SessionMessage]]


class McpMqttTransport:
    """``async with McpMqttTransport(config=...) as (read, write)``; reusable, not reentrant."""

    def __init__(self, *, config: McpClientConfig) -> None:
        self._config = config
        self._cm: Any = None
        self.client_id = ""
        self.server: wire.ServerOnline | None = None

    async def __aenter__(self) -> Streams:
        if self._cm is not None:
            raise RuntimeError("McpMqttTransport is not reentrant")
        self._cm = self._open()
        try:
            streams: Any = await self._cm.__aenter__()
        except BaseException:
            self._cm = None
            raise
        return streams  # type: ignore[no-any-return]

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        cm, self._cm = self._cm, None
        return await cm.__aexit__(*exc_info)  # type: ignore[no-any-return]

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[Streams]:
        cfg = self._config
        client_id = self.client_id = cfg.client_id or f"mcpc-{secrets.token_hex(8)}"
        props = wire.publish_properties("mcp-client", client_id)
        transport = cfg.transport_factory(cfg.connection.connect_options(
            client_id=client_id, clean_start=True, session_expiry=0,
            will=Will(topic=topics.client_presence(client_id), payload=wire.disconnected_payload(),
                      qos=cfg.qos, retain=False, properties=props),
            user_properties=wire.connect_properties(
                "mcp-client", {"implementation": "a2a-mqtt", **cfg.meta}),
        ))
        watch = PresenceWatch()
        async with AsyncExitStack() as stack:
            await transport.connect()
            stack.push_async_callback(self._leave, transport, client_id)
            hints = wire.connack_hints(getattr(transport, "connack_user_properties", ()))
            filters = hints.server_name_filters or (cfg.server_name,)
            for name_filter in filters:
                await transport.subscribe(
                    Subscription(topics.server_presence_filter(name_filter), qos=cfg.qos),
                    watch.handle)
            server = await self._choose(watch)
            self.server = server
            sid, name = server.server_id, server.server_name
            in_send, in_recv = anyio.create_memory_object_stream[SessionMessage | Exception](
                cfg.buffer)
            out_send, out_recv = anyio.create_memory_object_stream[SessionMessage](cfg.buffer)
            for stream in (in_send, in_recv, out_send, out_recv):
                stack.callback(stream.close)  # idempotent; covers failures before the yield
            feed = _Feed(in_send, cfg.max_message_bytes, client_id)

            def on_presence(event: PresenceEvent) -> None:
                if event.change is PresenceChange.OFFLINE and event.server_id == sid:
                    log.info("MCP server %s/%s went offline", sid, name)
                    feed.end()

            watch.listen(on_presence)

            def on_connection(up: bool) -> None:
                # Our Will told the server we are gone, and it dropped the session:
                # the session ends with the connection even if the transport reconnects.
                if not up:
                    feed.end()

            transport.on_connection_change(on_connection)
            await transport.subscribe(
                Subscription(topics.server_capability(sid, name), qos=cfg.qos), feed.handle)
            await transport.subscribe(
                Subscription(topics.rpc(client_id, sid, name), qos=cfg.qos, no_local=True),
                feed.handle)
            pump = asyncio.create_task(
                self._pump(transport, out_recv, sid, name, client_id),
                name=f"mcp-client[{client_id}].pump")
            stack.push_async_callback(_cancel, pump)
            yield in_recv, out_send

    async def _choose(self, watch: PresenceWatch) -> wire.ServerOnline:
        cfg = self._config
        instances = await watch.wait_for(cfg.server_name, cfg.discovery_timeout)
        if cfg.server_id is None:
            return cfg.choose(instances)
        for instance in instances:
            if instance.server_id == cfg.server_id:
                return instance
        while True:  # the pinned instance may announce itself a little later
            try:
                await watch.wait_change(cfg.discovery_timeout)
            except TimeoutError:
                break
            for instance in watch.book.instances(cfg.server_name):
                if instance.server_id == cfg.server_id:
                    return instance
        raise DiscoveryError(f"MCP server instance {cfg.server_id!r} is not online")

    async def _pump(self, transport: MqttTransport,
                    out_recv: MemoryObjectReceiveStream[SessionMessage],
                    sid: str, name: str, client_id: str) -> None:
        cfg = self._config
        props = wire.publish_properties("mcp-client", client_id)
        control = topics.server_control(sid, name)
        rpc = topics.rpc(client_id, sid, name)
        capability = topics.client_capability(client_id)
        async with out_recv:
            async for item in out_recv:
                message = item.message
                method = getattr(message, "method", None)
                if isinstance(message, mcp_types.JSONRPCRequest) and method == "initialize":
                    topic = control
                elif method in wire.CLIENT_CAPABILITY_METHODS:
                    topic = capability
                else:
                    topic = rpc
                try:
                    await transport.publish(topic, wire.encode_message(message), qos=cfg.qos,
                                            properties=props)
                except Exception as exc:  # the SDK's request timeout reports the loss
                    log.warning("MCP client %s: publish failed: %s", client_id, exc)

    async def _leave(self, transport: MqttTransport, client_id: str) -> None:
        try:
            if transport.connected:
                await transport.publish(
                    topics.client_presence(client_id), wire.disconnected_payload(),
                    qos=self._config.qos,
                    properties=wire.publish_properties("mcp-client", client_id))
        except Exception as exc:
            log.info("MCP client %s: could not say goodbye: %s", client_id, exc)
        await transport.disconnect()


class _Feed:
    """Inbound messages into the SDK's read stream; ends it when the server leaves."""

    def __init__(self, send: MemoryObjectSendStream[SessionMessage | Exception],
                 max_bytes: int, client_id: str) -> None:
        self._send = send
        self._max_bytes = max_bytes
        self._client_id = client_id

    def handle(self, msg: IncomingMessage) -> None:
        decoded = wire.decode_message(msg.payload, max_bytes=self._max_bytes)
        if isinstance(decoded, wire.DecodeFailure):
            log.warning("MCP client %s: dropped a message on %s: %s", self._client_id,
                        msg.topic, decoded.message)
            return
        if wire.is_disconnect_message(decoded):
            self.end()
            return
        try:
            self._send.send_nowait(SessionMessage(decoded))
        except anyio.WouldBlock:
            log.warning("MCP client %s: reader too slow, message dropped", self._client_id)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def end(self) -> None:
        self._send.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def open_session(
    config: McpClientConfig, **session_kwargs: Any
) -> AsyncIterator[ClientSession]:
    """An initialized official-SDK ``ClientSession`` on a server reached over MQTT."""
    async with McpMqttTransport(config=config) as (read, write), \
            ClientSession(read, write, **session_kwargs) as session:
        await session.initialize()
        yield session
