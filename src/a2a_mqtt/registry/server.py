"""RegistryServer: Config -> Server -> serve()/run(config), like uvicorn (a2a_mqtt/service.py).

``RegistryServer(config)`` is an async context manager (reusable, not
reentrant). Entering it:

1. binds the HTTP socket and starts uvicorn in a named task (``/health``
   answers at once; ``/ready`` says 503 until step 2 is done);
2. starts :class:`~a2a_mqtt.registry.ingest.Ingest` and waits until every
   retained card in scope is indexed (search words are linked afterwards by a
   background task; free-text queries scan the rest until it is done);
3. serves the registry's A2A agent (``config.agent_ref``) with AgentServer;
4. starts the stale-card sweeper if ``config.stale`` is set.

Leaving it undoes them in reverse: the feed closes first, so open SSE streams
end and uvicorn can stop without waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from a2a_mqtt._net import listen_socket
from a2a_mqtt.extras import missing_extra
from a2a_mqtt.observability.factory import make_metrics
from a2a_mqtt.observability.health import Health
from a2a_mqtt.observability.http import ObservedApp
from a2a_mqtt.observability.registry import RegistryMetrics
from a2a_mqtt.observability.transport import TransportMetrics
from a2a_mqtt.registry.config import RegistryConfig
from a2a_mqtt.registry.errors import RegistryError
from a2a_mqtt.registry.http import create_app, registry_route
from a2a_mqtt.registry.ingest import Ingest, TransportFactory
from a2a_mqtt.registry.service import RegistryService
from a2a_mqtt.registry.stale import StaleSweeper
from a2a_mqtt.service import serve_until_stopped

__all__ = ["RegistryServer"]

log = logging.getLogger("a2a_mqtt.registry")

_HTTP_STOP_GRACE = 5.0


def _uvicorn() -> Any:
    try:
        import uvicorn  # noqa: PLC0415 - optional at import time
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise (missing_extra(exc) or RegistryError(f"the registry cannot import uvicorn: {exc}")
               ) from exc
    return uvicorn


class RegistryServer:
    """One registry instance: ingest, HTTP API, A2A agent, stale sweeper."""

    def __init__(self, config: RegistryConfig, *,
                 transport_factory: TransportFactory | None = None) -> None:
        self.config = config
        self._factory = transport_factory
        self.service = RegistryService(config)
        obs = config.observability
        self.metrics = make_metrics(service="registry", config=obs, served=True)
        self.health = Health(service="registry", metrics=self.metrics)
        self.health.add("broker", lambda: self.service.ready)
        self._registry_metrics = (RegistryMetrics(self.metrics, lambda: self.service)
                                  if self.metrics is not None else None)
        self._stack: AsyncExitStack | None = None
        self._url: str | None = None
        self.sweeper: StaleSweeper | None = None

    @property
    def url(self) -> str:
        """The HTTP base URL (with the real port when ``http_port`` was 0)."""
        if self._url is None:
            raise RuntimeError("RegistryServer is not running")
        return self._url

    async def __aenter__(self) -> RegistryServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._stack is not None:
            raise RuntimeError("RegistryServer is already running (not reentrant)")
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            await self._start(stack)
        except BaseException:
            await stack.aclose()
            self._url = None
            raise
        self._stack = stack

    async def _start(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        self.service = service = RegistryService(cfg)
        service.metrics = self._registry_metrics
        await self._start_http(stack, service)
        stats = (None if self.metrics is None
                 else TransportMetrics(self.metrics, client_id=cfg.ingest_ref.client_id))
        ingest = Ingest(cfg, service.index, publish=service.publish,
                        transport_factory=self._factory, stats=stats)
        service.ingest = ingest
        stack.push_async_callback(ingest.stop)
        stack.callback(service.feed.close)  # runs before the HTTP server stops (LIFO)
        service.index.defer_words = True  # the replay links words later, off its hot path
        await ingest.start()
        service.index.defer_words = False
        words = asyncio.get_running_loop().create_task(
            _link_words(service), name=f"a2a-mqtt[registry {cfg.ingest_id}].words")
        stack.push_async_callback(_cancel, words)
        if cfg.agent_ref is not None:
            await self._start_agent(stack, service)
        if cfg.stale is not None:
            self.sweeper = sweeper = StaleSweeper(service, cfg.stale)
            task = asyncio.get_running_loop().create_task(
                sweeper.run(), name=f"a2a-mqtt[registry {cfg.ingest_id}].stale")
            stack.push_async_callback(_cancel, task)
        log.info("registry serving %s on %s", cfg.org or "every org", self._url)

    async def _start_http(self, stack: AsyncExitStack, service: RegistryService) -> None:
        cfg, uvicorn = self.config, _uvicorn()
        try:
            sock = listen_socket(cfg.http_host, cfg.http_port)
        except OSError as exc:
            raise RegistryError(
                f"cannot listen on {cfg.http_host}:{cfg.http_port}: {exc}") from exc
        stack.callback(sock.close)
        host, port = sock.getsockname()[:2]
        self._url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

        from a2a_mqtt._uvicorn import EmbeddedUvicorn  # noqa: PLC0415 - needs uvicorn

        server = EmbeddedUvicorn(uvicorn.Config(
            ObservedApp(service="registry", health=self.health, metrics=self.metrics,
                        app=create_app(service), route_of=registry_route),
            lifespan="off", log_config=None, access_log=False,
            timeout_graceful_shutdown=_HTTP_STOP_GRACE))
        task = asyncio.get_running_loop().create_task(
            server.serve(sockets=[sock]), name=f"a2a-mqtt[registry {cfg.ingest_id}].http")

        async def stop_http() -> None:
            server.should_exit = True
            try:
                async with asyncio.timeout(_HTTP_STOP_GRACE + 2):
                    await asyncio.shield(task)
            except TimeoutError:
                await _cancel(task)
        stack.push_async_callback(stop_http)

    async def _start_agent(self, stack: AsyncExitStack, service: RegistryService) -> None:
        from a2a_mqtt.registry.agent import RegistryExecutor, registry_card  # noqa: PLC0415
        from a2a_mqtt.server import AgentConfig, AgentServer  # noqa: PLC0415

        cfg = self.config
        assert cfg.agent_ref is not None
        agent = AgentServer(AgentConfig(
            ref=cfg.agent_ref, card=registry_card(), executor=RegistryExecutor(service),
            connection=cfg.connection, public_broker_url=cfg.public_broker_url,
            session_expiry=0), transport_factory=self._factory, metrics=self.metrics)
        await agent.start()
        stack.push_async_callback(agent.stop)

    async def stop(self) -> None:
        """Stop everything; safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
            self._url = None

    async def serve(self, stop: asyncio.Event | None = None, *,
                    on_ready: Callable[[], None] | None = None) -> None:
        """Start, run until ``stop`` is set or SIGINT/SIGTERM arrives, then stop gracefully
        (a2a_mqtt/service.py); ``on_ready`` is called once serving."""
        await serve_until_stopped(self, stop, on_ready=on_ready)


async def _link_words(service: RegistryService) -> None:
    """Link the search words deferred during the replay, a batch per loop iteration."""
    started = time.perf_counter()
    batch = 2000
    for _ in range(len(service.index.entries) // batch + 2):  # bounded: one pass
        if not service.index.link_words(batch):
            break
        await asyncio.sleep(0)  # yield to requests and ingest between batches
    service.words_seconds = time.perf_counter() - started
    service.words_linked.set()


async def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
