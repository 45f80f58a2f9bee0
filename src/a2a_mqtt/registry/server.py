"""RegistryServer: Config -> Server -> serve()/run(config), like uvicorn (a2a_mqtt/service.py).

``RegistryServer(config)`` is a :class:`~a2a_mqtt.service.HttpServer` (an
async context manager, reusable, not reentrant). Entering it:

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
import logging
import time
from contextlib import AsyncExitStack
from typing import Any

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
from a2a_mqtt.service import HttpServer

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


class RegistryServer(HttpServer):
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
        self.sweeper: StaleSweeper | None = None

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
        self._start_task(stack, _link_words(service), f"{self._name}.words")
        if cfg.agent_ref is not None:
            await self._start_agent(stack, service)
        if cfg.stale is not None:
            self.sweeper = StaleSweeper(service, cfg.stale)
            self._start_task(stack, self.sweeper.run(), f"{self._name}.stale")
        log.info("registry serving %s on %s", cfg.org or "every org", self.url)

    @property
    def _name(self) -> str:
        return f"a2a-mqtt[registry {self.config.ingest_id}]"

    async def _start_http(self, stack: AsyncExitStack, service: RegistryService) -> None:
        cfg = self.config
        app = ObservedApp(service="registry", health=self.health, metrics=self.metrics,
                          app=create_app(service), route_of=registry_route)
        try:
            await self._serve_http(stack, _uvicorn().Config(
                app, lifespan="off", log_config=None, access_log=False,
                timeout_graceful_shutdown=_HTTP_STOP_GRACE), host=cfg.http_host,
                port=cfg.http_port, name=self._name, stop_grace=_HTTP_STOP_GRACE + 2)
        except OSError as exc:
            raise RegistryError(
                f"cannot listen on {cfg.http_host}:{cfg.http_port}: {exc}") from exc

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
