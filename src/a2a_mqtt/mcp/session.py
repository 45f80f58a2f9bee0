"""One client session inside an MCP server connection: its topics, streams and pump.

Inbound messages are fed synchronously from the transport's handlers into a
bounded stream (the handlers must not block); a full stream answers requests
with a JSON-RPC error rather than queueing without bound. Outbound messages
leave in the order the SDK wrote them, each to its topic: list-changed and
resource-updated notifications to the server's capability topic, everything
else to the session's RPC topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio
import mcp_types
from mcp.shared.message import SessionMessage

from a2a_mqtt.mcp import topics, wire
from a2a_mqtt.mcp.runners import SessionRunner

__all__ = ["ServerSession"]

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


class ServerSession:
    """The server's half of one ``initialize``-to-``disconnected`` session."""

    def __init__(self, *, client_id: str, server_id: str, server_name: str, buffer: int,
                 publish: Publish, publish_capability: Publish) -> None:
        self.client_id = client_id
        self.rpc_topic = topics.rpc(client_id, server_id, server_name)
        self.presence_topic = topics.client_presence(client_id)
        self.capability_topic = topics.client_capability(client_id)
        self._publish = publish
        self._publish_capability = publish_capability
        self._in_send, self._in_recv = anyio.create_memory_object_stream[
            SessionMessage | Exception](buffer)
        self._out_send, self._out_recv = anyio.create_memory_object_stream[SessionMessage](buffer)
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @property
    def topic_filters(self) -> tuple[str, str, str]:
        return (self.rpc_topic, self.presence_topic, self.capability_topic)

    def start(self, runner: SessionRunner) -> None:
        self._task = asyncio.create_task(self._run(runner), name=f"mcp-session[{self.client_id}]")

    def feed(self, message: mcp_types.JSONRPCMessage) -> bool:
        """Hand one inbound message to the SDK; False if the session is full or closed."""
        try:
            self._in_send.send_nowait(SessionMessage(message))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    def end_input(self) -> None:
        """No more input: the SDK finishes in-flight work, then its loop ends."""
        self._in_send.close()

    async def stop(self) -> None:
        """End input and wait for the session to wind down (cancelled after a grace period)."""
        self.end_input()
        task = self._task
        if task is None:
            return
        try:
            async with asyncio.timeout(5.0):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, runner: SessionRunner) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump)
                try:
                    await runner(self._in_recv, self._out_send, session_id=self.client_id)
                finally:
                    self._out_send.close()
        except Exception:
            log.exception("MCP session %s failed", self.client_id)
        finally:
            self._in_send.close()
            self._in_recv.close()
            self.closed.set()

    async def _pump(self) -> None:
        async with self._out_recv:
            async for item in self._out_recv:
                message = item.message
                payload = wire.encode_message(message)
                method = getattr(message, "method", None)
                try:
                    if method in wire.CAPABILITY_METHODS:
                        await self._publish_capability(method, payload)
                    else:
                        await self._publish(self.rpc_topic, payload)
                except Exception as exc:  # a lost reply must not end the session
                    log.warning("MCP session %s: publish failed: %s", self.client_id, exc)

