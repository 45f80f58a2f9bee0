"""Bridges between MQTT and the SDK's other transports.

* :func:`upstream_host`: expose an existing MCP server (a stdio command, a
  streamable-HTTP URL) on MQTT. Each MQTT client session opens its own upstream
  session (a stdio server serves exactly one session, so one process per
  session) and messages are piped both ways unchanged.
* :func:`bridge_stdio`: the other direction; a stock stdio MCP client (a
  Claude Desktop-style host runs ``a2a-mqtt mcp bridge NAME``) talks to an MQTT
  server through our stdin/stdout.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

from a2a_mqtt.mcp.client import McpClientConfig, McpMqttTransport
from a2a_mqtt.mcp.runners import SessionHost, SessionRunner

__all__ = ["bridge_stdio", "http_upstream", "pipe", "stdio_upstream", "upstream_host"]

log = logging.getLogger(__name__)

Upstream = Callable[[], AbstractAsyncContextManager[Any]]
"""Opens one upstream session; yields ``(read, write, ...)`` as the SDK's client transports do."""


async def pipe(source: Any, sink: Any, label: str) -> None:
    """Copy messages until ``source`` ends, then close ``sink``; transport errors are logged."""
    try:
        async for item in source:
            if isinstance(item, Exception):
                log.warning("%s: dropped an unreadable message: %s", label, item)
                continue
            await sink.send(item)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
        pass
    finally:
        await sink.aclose()


def stdio_upstream(command: str, args: Sequence[str] = (),
                   env: dict[str, str] | None = None) -> Upstream:
    params = StdioServerParameters(command=command, args=list(args), env=env)
    return lambda: stdio_client(params)


def http_upstream(url: str) -> Upstream:
    return lambda: streamable_http_client(url)


def upstream_host(upstream: Upstream) -> SessionHost:
    """A host whose sessions are each relayed to a fresh upstream session."""

    @asynccontextmanager
    async def host() -> AsyncIterator[SessionRunner]:
        async def run(read: MemoryObjectReceiveStream[SessionMessage | Exception],
                      write: MemoryObjectSendStream[SessionMessage], *, session_id: str) -> None:
            try:
                async with upstream() as streams, anyio.create_task_group() as tg:
                    up_read, up_write = streams[0], streams[1]
                    tg.start_soon(pipe, up_read, write, f"upstream->{session_id}")
                    await pipe(read, up_write, f"{session_id}->upstream")
                    tg.cancel_scope.cancel()  # the client left: stop the upstream session
            finally:
                await write.aclose()

        yield run

    return host


async def bridge_stdio(config: McpClientConfig) -> None:
    """Relay our stdin/stdout (a stdio MCP client) to the MQTT server ``config`` names."""
    async with stdio_server() as (local_read, local_write), \
            McpMqttTransport(config=config) as (remote_read, remote_write), \
            anyio.create_task_group() as tg:
        tg.start_soon(pipe, remote_read, local_write, "mqtt->stdio")
        await pipe(local_read, remote_write, "stdio->mqtt")
        tg.cancel_scope.cancel()
