"""One service shape: a frozen Config, a Server with ``serve(stop)``, and :func:`run`.

Every long-running a2a-mqtt service has the same three parts (like uvicorn)::

    config = RegistryConfig(...)       # frozen, validated at construction
    server = RegistryServer(config)    # an async context manager holding the resources
    await server.serve(stop)           # until ``stop`` is set or SIGINT/SIGTERM arrives
    run(config)                        # blocking: a new event loop, then serve()

=================  ===============================================
Config             Server
=================  ===============================================
``AgentConfig``    ``AgentServer`` (many: ``AgentHost(configs)``)
``RegistryConfig`` ``RegistryServer``
``GatewayConfig``  ``GatewayServer``
``ExposeConfig``   ``ExposeHost``
``StageConfig``    ``StageServer`` (workflows/events.py: event-driven stages)
``McpServerConfig`` ``McpMqttServer(config=..., app=...)`` (needs the app: ``run(server)``)
=================  ===============================================

A config names its server through ``config.server()``; :func:`run` accepts a
config or a server. Stopping is the same everywhere: ``stop.set()``, SIGINT or
SIGTERM leave the server's ``async with`` block, which stops it gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from a2a_mqtt._loop import run as run_loop

__all__ = ["Server", "ServiceConfig", "run", "serve_until_stopped"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@runtime_checkable
class Server(Protocol):
    """Anything :func:`run` can run."""

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Start, run until ``stop`` is set or SIGINT/SIGTERM arrives, stop gracefully."""


class ServiceConfig(Protocol):
    """A config that knows its server."""

    def server(self) -> Server: ...


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` while inside; only where the loop can take signals
    (the main thread of a Unix process); elsewhere the caller's ``stop`` is the way."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def serve_until_stopped(resource: AbstractAsyncContextManager[Any],
                              stop: asyncio.Event | None = None, *,
                              on_ready: Callable[[], None] | None = None) -> None:
    """The body of every ``Server.serve``: enter ``resource``, call ``on_ready``, wait for
    ``stop`` (or SIGINT/SIGTERM), leave it (a graceful stop)."""
    stop = stop or asyncio.Event()
    with _stop_on_signals(stop):
        async with resource:
            if on_ready is not None:
                on_ready()
            await stop.wait()


def run(target: ServiceConfig | Server) -> None:
    """Blocking: serve ``target`` (a config, or a server) on a new event loop until
    SIGINT/SIGTERM, then stop it gracefully. The loop is uvloop when installed
    (``A2A_MQTT_LOOP``, a2a_mqtt/_loop.py)."""
    server = target if isinstance(target, Server) else target.server()
    run_loop(server.serve())
