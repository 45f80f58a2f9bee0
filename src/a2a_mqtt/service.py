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
``DashboardConfig`` ``DashboardServer``
``GatewayConfig``  ``GatewayServer``
``ExposeConfig``   ``ExposeHost``
``StageConfig``    ``StageServer`` (workflows/events.py: event-driven stages)
``McpServerConfig`` ``McpMqttServer(config=..., app=...)`` (needs the app: ``run(server)``)
``SupervisorConfig`` ``Supervisor`` (workflows/supervisor.py)
``JwksServerConfig`` ``JwksServer`` (security/jwks_server.py)
=================  ===============================================

A config names its server through ``config.server()``; :func:`run` accepts a
config or a server. Stopping is the same everywhere: ``stop.set()``, SIGINT or
SIGTERM leave the server's ``async with`` block, which stops it gracefully.

:class:`BaseServer` is that lifecycle written once: a subclass writes only
``_start(stack)``, starting its parts in order and pushing the undo of each on
the stack; the base gives ``start``/``stop``, ``async with``, ``serve`` and the
not-reentrant guard. A stop that must do more than undo the start (the agent
server's offline card and drain) adds ``_drain()``. :class:`HttpServer` adds the
embedded uvicorn (``_serve_http``) and ``url``. Every server in the table is
built on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from a2a_mqtt._loop import run as run_loop
from a2a_mqtt._net import listen_socket

if TYPE_CHECKING:
    import uvicorn

    from a2a_mqtt._uvicorn import EmbeddedUvicorn

__all__ = ["BaseServer", "HttpServer", "Server", "ServiceConfig", "run", "serve_until_stopped"]

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


class BaseServer:
    """A Server whose parts are started in order and stopped in reverse, on one stack.

    A subclass implements ``_start(stack)``: start each part, push its undo on
    ``stack`` (``push_async_callback``, ``enter_async_context``, ``_start_task``).
    Invariants the base keeps:

    * reusable, not reentrant: ``start`` while running raises; after ``stop`` it
      may start again (each start has a fresh stack);
    * a failing start undoes what it did (the stack closes) and re-raises;
    * ``stop`` closes the stack, last started first; a second call does nothing.
    """

    # A class-level default, so a subclass need not call an __init__ (it mixes in).
    _stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _start(self, stack: AsyncExitStack) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Start every part (``_start``); on failure, stop what started and re-raise."""
        if self._stack is not None:
            raise RuntimeError(f"{type(self).__name__} is already running (not reentrant)")
        stack = AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await self._close(stack)
            raise
        self._stack = stack

    async def stop(self) -> None:
        """Stop every part, last started first; safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            try:
                await self._drain()
            finally:
                await self._close(stack)

    async def _drain(self) -> None:
        """The graceful part of a stop, run before the stack closes (a failed start
        skips it): stop taking work, finish what is in hand. Nothing by default."""

    async def _close(self, stack: AsyncExitStack) -> None:
        await stack.aclose()

    async def serve(self, stop: asyncio.Event | None = None, *,
                    on_ready: Callable[[], None] | None = None) -> None:
        """Start, run until ``stop`` is set or SIGINT/SIGTERM arrives, then stop gracefully;
        ``on_ready`` is called once serving."""
        await serve_until_stopped(self, stop, on_ready=on_ready)

    def _start_task(self, stack: AsyncExitStack, coro: Coroutine[Any, Any, None],
               name: str) -> asyncio.Task[None]:
        """Run ``coro`` in a task named ``name``, cancelled when ``stack`` closes."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        stack.push_async_callback(_cancel, task)
        return task


class HttpServer(BaseServer):
    """A :class:`BaseServer` with an HTTP side: ``_serve_http`` in ``_start`` sets
    ``url``, readable until the server stops."""

    _url: str | None = None

    @property
    def url(self) -> str:
        """The base URL actually bound (the real port when port 0 was asked)."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._url

    async def _close(self, stack: AsyncExitStack) -> None:
        try:
            await stack.aclose()
        finally:
            self._url = None

    async def _serve_http(self, stack: AsyncExitStack, config: uvicorn.Config, *,
                          host: str, port: int, name: str, stop_grace: float,
                          scheme: str = "http") -> None:
        """Serve ``config``'s app on ``host:port`` (0: a free port) in the task
        ``{name}.http`` until ``stack`` closes; return once it listens, ``url`` set.

        A bind failure raises :class:`OSError`; a uvicorn that fails before it
        listens re-raises here. On close, uvicorn stops taking connections and
        has ``stop_grace`` seconds to finish (``timeout_graceful_shutdown`` in
        ``config`` should be shorter), then it is cancelled."""
        from a2a_mqtt._uvicorn import EmbeddedUvicorn  # noqa: PLC0415 - uvicorn is an extra

        sock = listen_socket(host, port)
        stack.callback(sock.close)
        server = EmbeddedUvicorn(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]),
                                                      name=f"{name}.http")
        stack.push_async_callback(_stop_http, server, task, stop_grace)
        await _until_listening(server, task, f"{host}:{port}")
        bound, bound_port = sock.getsockname()[:2]
        self._url = f"{scheme}://{f'[{bound}]' if ':' in bound else bound}:{bound_port}"


async def _until_listening(server: EmbeddedUvicorn, task: asyncio.Task[None],
                           where: str) -> None:
    listening = asyncio.get_running_loop().create_task(
        server.listening.wait(), name=f"{task.get_name()}.listening")
    done, _ = await asyncio.wait({task, listening}, timeout=30.0,
                                 return_when=asyncio.FIRST_COMPLETED)
    if listening in done:
        return
    await _cancel(listening)
    if task in done:
        task.result()  # re-raise the start-up failure
    raise RuntimeError(f"uvicorn did not start listening on {where}")


async def _stop_http(server: EmbeddedUvicorn, task: asyncio.Task[None], grace: float) -> None:
    server.should_exit = True  # no new connections; open ones get the graceful timeout
    if not task.done():
        await asyncio.wait({task}, timeout=grace)
    await _cancel(task)


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` if it runs and wait for it to end. Its own failure is not raised
    again: it was reported where it mattered (start-up re-raises it, uvicorn and the
    background loops log theirs); a cancellation of the caller still propagates."""
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: asyncio does not log it as never retrieved


def run(target: ServiceConfig | Server) -> None:
    """Blocking: serve ``target`` (a config, or a server) on a new event loop until
    SIGINT/SIGTERM, then stop it gracefully. The loop is uvloop when installed
    (``A2A_MQTT_LOOP``, a2a_mqtt/_loop.py)."""
    server = target if isinstance(target, Server) else target.server()
    run_loop(server.serve())
