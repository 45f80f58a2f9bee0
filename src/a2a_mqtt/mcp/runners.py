"""What serves one MCP session once its streams exist: the official SDK's servers.

A :data:`SessionHost` is entered once per MQTT server connection and yields a
:class:`SessionRunner`, called once per client session with that session's
streams. For an SDK ``Server`` the host enters the server's lifespan once (as the
SDK's streamable-HTTP manager does) and each session runs
``mcp.server.runner.serve_dual_era_loop``; ``Server.run`` would re-enter the
lifespan for every session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.runner import serve_dual_era_loop
from mcp.shared.message import SessionMessage

__all__ = ["SessionHost", "SessionRunner", "lowlevel_server", "sdk_host"]


class SessionRunner(Protocol):
    async def __call__(
        self,
        read: MemoryObjectReceiveStream[SessionMessage | Exception],
        write: MemoryObjectSendStream[SessionMessage],
        *,
        session_id: str,
    ) -> None:
        """Serve one session until ``read`` ends; close ``write`` when done."""


SessionHost = Callable[[], AbstractAsyncContextManager[SessionRunner]]


def lowlevel_server(app: Server[Any] | MCPServer) -> Server[Any]:
    """The low-level ``Server`` behind ``app``, reached through public attributes only.

    ``MCPServer`` has no public accessor for it (mcp 2.3); its streamable-HTTP
    session manager is public and holds it as ``.app``. The manager exists once
    ``streamable_http_app()`` has been called, which has no other effect until
    the returned ASGI app is served. tests/unit/mcp/test_sdk_seams.py pins this.
    """
    if isinstance(app, Server):
        return app
    try:
        manager = app.session_manager
    except RuntimeError:
        app.streamable_http_app()
        manager = app.session_manager
    server = manager.app
    if not isinstance(server, Server):
        raise TypeError(f"unexpected session manager app {type(server).__name__}")
    return server


def sdk_host(app: Server[Any] | MCPServer) -> SessionHost:
    """A host serving ``app`` (low-level ``Server`` or ``MCPServer``), lifespan entered once."""
    server = lowlevel_server(app)

    @asynccontextmanager
    async def host() -> AsyncIterator[SessionRunner]:
        async with server.lifespan(server) as state:

            async def run(
                read: MemoryObjectReceiveStream[SessionMessage | Exception],
                write: MemoryObjectSendStream[SessionMessage],
                *,
                session_id: str,
            ) -> None:
                await serve_dual_era_loop(
                    server, read, write, lifespan_state=state, session_id=session_id,
                    init_options=server.create_initialization_options(),
                )

            yield run

    return host
