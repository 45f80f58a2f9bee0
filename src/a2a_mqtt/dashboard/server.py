"""DashboardServer: Config -> Server -> serve(stop), like every service.

``DashboardServer(config)`` is a :class:`~a2a_mqtt.service.HttpServer` (an
async context manager; ``a2a_mqtt.service.run(config)`` blocks). Entering it:

1. starts an embedded registry (``config.registry_url`` is None) on a free
   loopback port, or uses the one configured;
2. connects the dashboard's requester (its own MQTT identity, through a
   :class:`~a2a_mqtt.dashboard.wire.WireTap`) and subscribes to ``$SYS/#``;
3. follows the registry's change feed (:class:`~a2a_mqtt.dashboard.feed.FeedHub`);
4. binds the HTTP socket and serves the app.

Leaving it undoes them in reverse; ``closing`` is set first, so open SSE and
NDJSON streams end and uvicorn stops without waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.requester import Requester
from a2a_mqtt.dashboard.app import create_app
from a2a_mqtt.dashboard.auth import SessionStore
from a2a_mqtt.dashboard.brokerhealth import BrokerHealth
from a2a_mqtt.dashboard.calls import CallService
from a2a_mqtt.dashboard.config import DashboardConfig
from a2a_mqtt.dashboard.feed import FeedHub
from a2a_mqtt.dashboard.metrics import MetricsSources
from a2a_mqtt.dashboard.traces import TraceStore
from a2a_mqtt.dashboard.wire import WireTap
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.service import HttpServer
from a2a_mqtt.transport.base import ConnectOptions, MqttTransport, TransportFactory
from a2a_mqtt.transport.base import default_transport as _default_transport

__all__ = ["DashboardError", "DashboardServer", "DashboardState"]

log = logging.getLogger("a2a_mqtt.dashboard")

_HTTP_STOP_GRACE = 3


class DashboardError(A2AMqttError):
    """The dashboard could not start (port taken, registry unreachable...)."""


@dataclass(kw_only=True)
class DashboardState:
    """What the routes read: one per running server."""

    config: DashboardConfig
    registry_url: str
    http: httpx.AsyncClient
    hub: FeedHub
    calls: CallService
    sessions: SessionStore
    broker_health: BrokerHealth
    metrics: MetricsSources
    traces: TraceStore
    closing: asyncio.Event


class DashboardServer(HttpServer):
    """One dashboard: registry (embedded or not), requester, feed, HTTP."""

    def __init__(self, config: DashboardConfig, *,
                 transport_factory: TransportFactory | None = None) -> None:
        self.config = config
        self._factory = transport_factory or _default_transport
        self.state: DashboardState | None = None
        self.registry: Any = None
        """The embedded RegistryServer, when there is one."""
        self.tap: WireTap | None = None

    def _tapped(self, options: ConnectOptions) -> MqttTransport:
        self.tap = WireTap(self._factory(options))
        return self.tap

    async def _start(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        registry_url = cfg.registry_url or await self._embed_registry(stack)
        http = httpx.AsyncClient(timeout=10.0, headers=(
            {"Authorization": f"Bearer {cfg.registry_token}"} if cfg.registry_token else {}))
        stack.push_async_callback(http.aclose)
        requester = Requester(RequesterConfig(
            connection=cfg.connection, org=cfg.org, unit=cfg.unit,
            requester_id=cfg.dashboard_id, session_expiry=0, max_attempts=1,
            reply_first_timeout=cfg.reply_timeout,
            stream_idle_timeout=cfg.stream_idle_timeout), transport_factory=self._tapped)
        await requester.start()
        stack.push_async_callback(requester.close)
        health = BrokerHealth()
        if cfg.broker_sys:
            await health.start(requester.transport)
        hub = FeedHub(registry_url, token=cfg.registry_token)
        self._start_task(stack, hub.run(), f"a2a-mqtt[dashboard {cfg.dashboard_id}].feed")
        closing = asyncio.Event()
        self.state = DashboardState(
            config=cfg, registry_url=registry_url, http=http, hub=hub,
            calls=CallService(requester, self.tap, offline=hub,
                              reply_timeout=cfg.reply_timeout,
                              idle_timeout=cfg.stream_idle_timeout),
            sessions=SessionStore(cfg.session_ttl), broker_health=health,
            metrics=MetricsSources(cfg.metrics_urls), traces=TraceStore(), closing=closing)
        await self._start_http(stack, self.state)
        stack.callback(closing.set)  # runs before the HTTP server stops (LIFO)
        try:
            async with asyncio.timeout(10.0):
                await hub.connected.wait()
        except TimeoutError:
            raise DashboardError(f"the registry at {registry_url} did not open its change "
                                 "feed within 10 s") from None
        log.info("dashboard serving on %s (registry %s)", self.url, registry_url)

    async def _embed_registry(self, stack: AsyncExitStack) -> str:
        from a2a_mqtt.registry import RegistryConfig, RegistryServer  # noqa: PLC0415

        cfg = self.config
        registry = await stack.enter_async_context(RegistryServer(RegistryConfig(
            connection=cfg.connection, ingest_org=cfg.org, ingest_unit=cfg.unit,
            ingest_id=f"{cfg.dashboard_id}.registry", http_host="127.0.0.1", http_port=0,
            agent_ref=None), transport_factory=self._factory))
        self.registry = registry
        return registry.url

    async def _start_http(self, stack: AsyncExitStack, state: DashboardState) -> None:
        cfg = self.config
        try:
            await self._serve_http(stack, uvicorn.Config(
                create_app(state), lifespan="off", log_config=None, access_log=False,
                timeout_graceful_shutdown=_HTTP_STOP_GRACE), host=cfg.host, port=cfg.port,
                name=f"a2a-mqtt[dashboard {cfg.dashboard_id}]", stop_grace=_HTTP_STOP_GRACE + 2)
        except OSError as exc:
            raise DashboardError(f"cannot listen on {cfg.host}:{cfg.port}: {exc}") from exc
