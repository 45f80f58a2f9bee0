"""Serve an official-SDK MCP server over MQTT: one connection, many client sessions.

Lifecycle of one instance (docs/mcp.md has the wire rules and the choices):

1. CONNECT as ``server_id`` with ``MCP-COMPONENT-TYPE``/``MCP-META`` and a Will
   that clears the retained presence; a broker-suggested ``MCP-SERVER-NAME``
   in CONNACK replaces the configured name (we reconnect once so the Will
   names the right topic);
2. subscribe the control topic, then publish the retained ``server/online``;
3. per ``initialize``: subscribe the client's RPC (No Local), presence and
   capability topics, and only then let the SDK see the request, so its reply
   cannot overtake the subscriptions;
4. stop: ``notifications/disconnected`` to every session, clear presence,
   DISCONNECT.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import mcp_types
from mcp.server import Server
from mcp.server.mcpserver import MCPServer

from a2a_mqtt.mcp import topics, wire
from a2a_mqtt.mcp.config import McpServerConfig
from a2a_mqtt.mcp.runners import SessionHost, SessionRunner, sdk_host
from a2a_mqtt.mcp.session import ServerSession
from a2a_mqtt.mqtt_types import (
    ConnectOptions,
    IncomingMessage,
    PublishProperties,
    Subscription,
    Will,
)
from a2a_mqtt.service import BaseServer
from a2a_mqtt.transport.base import MqttTransport

__all__ = ["McpMqttServer", "McpServerConfig"]

log = logging.getLogger(__name__)

# Identical capability notifications from several sessions inside this window
# are one change (each session of the SDK announces it separately).
_CAPABILITY_DEDUP_SECONDS = 0.25


class McpMqttServer(BaseServer):
    """Serves ``app`` (or a custom ``host``) until stopped: a
    :class:`~a2a_mqtt.service.BaseServer` (async context manager, reusable, not reentrant)."""

    def __init__(self, *, config: McpServerConfig,
                 app: Server[Any] | MCPServer | None = None,
                 host: SessionHost | None = None) -> None:
        if (app is None) == (host is None):
            raise ValueError("give exactly one of app or host")
        self._config = config
        self._host: SessionHost = host if host is not None else sdk_host(app)  # type: ignore[arg-type]
        self.server_id = config.server_id or f"mcps-{secrets.token_hex(8)}"
        self.server_name = config.server_name
        self._transport: MqttTransport | None = None
        self._runner: SessionRunner | None = None
        self._sessions: dict[str, ServerSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._recent_capability: dict[bytes, float] = {}
        self._was_up = False
        self._stopping = False
        self.sessions_served = 0  # sessions ever started by this instance
        self._sessions_changed = asyncio.Event()

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def session_ids(self) -> list[str]:
        """The client ids of the open sessions."""
        return sorted(self._sessions)

    async def wait_sessions(self, predicate: Callable[[int], bool], timeout: float) -> int:
        """Wait until ``predicate(number of open sessions)`` holds; return that number."""
        async with asyncio.timeout(timeout):
            while not predicate(len(self._sessions)):
                changed = self._sessions_changed
                await changed.wait()
        return len(self._sessions)

    def _sessions_touched(self) -> None:
        self._sessions_changed.set()
        self._sessions_changed = asyncio.Event()

    @property
    def presence_topic(self) -> str:
        return topics.server_presence(self.server_id, self.server_name)

    async def _start(self, stack: AsyncExitStack) -> None:
        self._stopping = False
        self._runner = await stack.enter_async_context(self._host())
        stack.push_async_callback(self._end_all)  # first to run: sessions end, then the SDK
        await self._connect()

    # -- connection -----------------------------------------------------------------

    def _options(self) -> ConnectOptions:
        cfg = self._config
        meta = {"implementation": "a2a-mqtt", **cfg.meta}
        return cfg.connection.connect_options(
            client_id=self.server_id, clean_start=True, session_expiry=0,
            will=Will(topic=self.presence_topic, payload=b"", qos=cfg.qos, retain=True,
                      properties=self._props()),
            user_properties=wire.connect_properties("mcp-server", meta),
        )

    def _props(self) -> PublishProperties:
        return wire.publish_properties("mcp-server", self.server_id)

    async def _connect(self) -> None:
        transport = self._config.transport_factory(self._options())
        await transport.connect()
        hint = wire.connack_hints(getattr(transport, "connack_user_properties", ())).server_name
        if hint and hint != self.server_name:
            # The spec makes the broker's suggestion binding; the Will already
            # names the old topic, so start over under the suggested name.
            log.info("broker suggests server name %r (configured %r)", hint, self.server_name)
            await transport.disconnect()
            self.server_name = topics.check_server_name(hint)
            transport = self._config.transport_factory(self._options())
            await transport.connect()
        self._transport = transport
        self._was_up = True
        transport.on_connection_change(self._on_connection_change)
        await transport.subscribe(
            Subscription(topics.server_control(self.server_id, self.server_name),
                         qos=self._config.qos),
            self._on_control,
        )
        await self._announce()

    async def _announce(self) -> None:
        cfg = self._config
        await self._send(self.presence_topic,
                         wire.online_payload(self.server_name, cfg.description, cfg.meta),
                         retain=True)

    def _on_connection_change(self, up: bool) -> None:
        if up and not self._was_up:
            # The broker published our Will when the link broke, so every client
            # has seen us go offline and dropped its sessions: drop ours too and
            # announce again.
            self._spawn(self._after_reconnect(), "reannounce")
        self._was_up = up

    async def _after_reconnect(self) -> None:
        for client_id in list(self._sessions):
            await self._end_session(client_id, notify=True)
        await self._announce()

    async def _end_all(self) -> None:
        """End every session (telling its client), clear presence, disconnect."""
        transport = self._transport
        if transport is not None and not self._stopping:
            self._stopping = True  # no new sessions from here on
            for client_id in list(self._sessions):
                await self._end_session(client_id, notify=True)
            try:
                await self._send(self.presence_topic, b"", retain=True)
            except Exception as exc:
                log.warning("could not clear presence: %s", exc)
            self._transport = None
            await transport.disconnect()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        transport = self._transport
        if transport is None:
            raise RuntimeError("the MCP server is not running")
        await transport.publish(topic, payload, qos=self._config.qos, retain=retain,
                                properties=self._props())

    async def _send_capability(self, method: str, payload: bytes) -> None:
        now = time.monotonic()
        self._recent_capability = {
            k: t for k, t in self._recent_capability.items() if now - t < _CAPABILITY_DEDUP_SECONDS}
        if payload in self._recent_capability:
            return
        self._recent_capability[payload] = now
        await self._send(topics.server_capability(self.server_id, self.server_name), payload)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"mcp-server[{self.server_id}].{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- inbound --------------------------------------------------------------------

    def _on_control(self, msg: IncomingMessage) -> None:
        client_id = msg.properties.user_property(wire.MQTT_CLIENT_ID)
        if client_id is None:
            log.warning("control message without %s: dropped", wire.MQTT_CLIENT_ID)
            return
        try:
            topics.check_id(client_id)
        except ValueError:
            log.warning("control message with an unusable client id: dropped")
            return
        decoded = wire.decode_message(msg.payload, max_bytes=self._config.max_message_bytes)
        self._spawn(self._on_initialize(client_id, decoded), f"initialize[{client_id}]")

    async def _on_initialize(self, client_id: str,
                             decoded: mcp_types.JSONRPCMessage | wire.DecodeFailure) -> None:
        rpc_topic = topics.rpc(client_id, self.server_id, self.server_name)
        if isinstance(decoded, wire.DecodeFailure):
            log.warning("control message from %s: %s", client_id, decoded.message)
            if decoded.answerable:
                await self._reply_error(rpc_topic, decoded.request_id, decoded.code,
                                        decoded.message)
            return
        if not (isinstance(decoded, mcp_types.JSONRPCRequest) and decoded.method == "initialize"):
            log.warning("control message from %s is not initialize: refused", client_id)
            if isinstance(decoded, mcp_types.JSONRPCRequest):
                await self._reply_error(rpc_topic, decoded.id, mcp_types.INVALID_REQUEST,
                                        "no session: send initialize to the control topic first")
            return
        if client_id in self._sessions:
            await self._reply_error(rpc_topic, decoded.id, mcp_types.INVALID_REQUEST,
                                    "this client id already has a session; use a new one")
            return
        if len(self._sessions) >= self._config.max_sessions:
            await self._reply_error(rpc_topic, decoded.id, mcp_types.INTERNAL_ERROR,
                                    "server busy: too many sessions")
            return
        transport, runner = self._transport, self._runner
        if transport is None or runner is None or self._stopping:
            return
        session = ServerSession(
            client_id=client_id, server_id=self.server_id, server_name=self.server_name,
            buffer=self._config.session_buffer, publish=self._send,
            publish_capability=self._send_capability)
        self._sessions[client_id] = session
        self._sessions_touched()
        try:
            qos = self._config.qos
            await transport.subscribe(Subscription(session.rpc_topic, qos=qos, no_local=True),
                                      self._on_rpc)
            await transport.subscribe(Subscription(session.presence_topic, qos=qos),
                                      self._on_client_presence)
            await transport.subscribe(Subscription(session.capability_topic, qos=qos),
                                      self._on_client_capability)
        except Exception as exc:
            log.warning("cannot subscribe for session %s: %s", client_id, exc)
            self._sessions.pop(client_id, None)
            self._sessions_touched()
            return
        session.start(runner)
        self.sessions_served += 1
        session.feed(decoded)
        self._spawn(self._reap(session), f"reap[{client_id}]")

    async def _reap(self, session: ServerSession) -> None:
        await session.closed.wait()
        if self._sessions.get(session.client_id) is session:
            await self._end_session(session.client_id, notify=False)

    def _on_rpc(self, msg: IncomingMessage) -> None:
        parsed = topics.parse(msg.topic)
        session = self._sessions.get(parsed.client_id or "") if parsed else None
        if session is None:
            log.info("RPC message for no session on %s: dropped", msg.topic)
            return
        self._deliver(session, msg.payload)

    def _on_client_capability(self, msg: IncomingMessage) -> None:
        parsed = topics.parse(msg.topic)
        session = self._sessions.get(parsed.client_id or "") if parsed else None
        if session is not None:
            self._deliver(session, msg.payload)

    def _on_client_presence(self, msg: IncomingMessage) -> None:
        parsed = topics.parse(msg.topic)
        if parsed and parsed.client_id in self._sessions and wire.is_disconnected(msg.payload):
            self._spawn(self._end_session(parsed.client_id, notify=False),
                        f"end[{parsed.client_id}]")

    def _deliver(self, session: ServerSession, payload: bytes) -> None:
        decoded = wire.decode_message(payload, max_bytes=self._config.max_message_bytes)
        if isinstance(decoded, wire.DecodeFailure):
            log.warning("session %s: %s", session.client_id, decoded.message)
            if decoded.answerable:
                self._spawn(self._reply_error(session.rpc_topic, decoded.request_id,
                                              decoded.code, decoded.message), "error")
            return
        if wire.is_disconnect_message(decoded):
            self._spawn(self._end_session(session.client_id, notify=False),
                        f"end[{session.client_id}]")
            return
        if not session.feed(decoded):
            log.warning("session %s is full: message refused", session.client_id)
            if isinstance(decoded, mcp_types.JSONRPCRequest):
                self._spawn(self._reply_error(session.rpc_topic, decoded.id,
                                              mcp_types.INTERNAL_ERROR, "session overloaded"),
                            "error")

    async def _reply_error(self, topic: str, request_id: str | int | None, code: int,
                           message: str) -> None:
        try:
            await self._send(topic, wire.error_payload(request_id, code, message))
        except Exception as exc:
            log.warning("could not send an error reply: %s", exc)

    async def _end_session(self, client_id: str, *, notify: bool) -> None:
        session = self._sessions.pop(client_id, None)
        if session is None:
            return
        self._sessions_touched()
        await session.stop()
        transport = self._transport
        if transport is None:
            return
        try:
            if notify:
                await self._send(session.rpc_topic, wire.disconnected_payload())
            for topic_filter in session.topic_filters:
                await transport.unsubscribe(topic_filter)
        except Exception as exc:
            log.info("session %s: cleanup incomplete: %s", client_id, exc)
