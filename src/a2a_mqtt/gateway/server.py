"""Gateway and GatewayServer: Config -> Server -> run, as uvicorn does it.

* :class:`Gateway` owns the MQTT side (one requester session, discovery, the
  presence watch) and the ASGI app; run it under any ASGI server, or call it
  in process (``httpx.ASGITransport``) in tests.
* :class:`GatewayServer` adds uvicorn on ``config.host:config.port``.
* ``GatewayServer.serve()`` (or ``a2a_mqtt.run(config)``) runs one until SIGINT/SIGTERM.

Both are async context managers (reusable, not reentrant); uvicorn runs in a
named task, signals stay with the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType

import uvicorn
from a2a.types.a2a_pb2 import AgentCard
from starlette.types import ASGIApp

from a2a_mqtt._net import listen_socket
from a2a_mqtt._uvicorn import EmbeddedUvicorn
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.gateway.config import GatewayConfig
from a2a_mqtt.gateway.errors import AgentNotFoundError
from a2a_mqtt.gateway.layout import gateway_card
from a2a_mqtt.gateway.presence import (
    AgentDirectory,
    DiscoveryDirectory,
    Inflight,
    RegistryDirectory,
)
from a2a_mqtt.gateway.proxy import MqttProxyHandler, ProxySettings
from a2a_mqtt.gateway.routing import (
    AgentAppSettings,
    GatewayApp,
    build_agent_app,
    current_base_url,
    gateway_route,
)
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.factory import make_metrics
from a2a_mqtt.observability.health import Health
from a2a_mqtt.observability.http import ObservedApp
from a2a_mqtt.observability.propagation import TracedHttpApp
from a2a_mqtt.service import serve_until_stopped

# listen_socket is re-exported: bench/gateway_compare.py imports it from here.
__all__ = ["Gateway", "GatewayServer", "listen_socket"]

log = logging.getLogger("a2a_mqtt.gateway")


class Gateway:
    """MQTT client + directory + ASGI app; an async context manager."""

    def __init__(self, config: GatewayConfig, *, directory: AgentDirectory | None = None) -> None:
        self.config = config
        self.inflight = Inflight()
        own = directory is None
        obs = config.observability
        self.metrics = make_metrics(service="gateway", config=obs, served=True)
        self.health = Health(service="gateway", metrics=self.metrics)
        self.mqtt = A2AMqttClient(config.requester(), org=config.org, unit=config.unit,
                                  discover=own and config.registry_url is None,
                                  metrics=self.metrics)
        self.health.add("broker", lambda: self.mqtt.requester.connected)
        self._presence: DiscoveryDirectory | RegistryDirectory | None = None
        if own and config.registry_url is not None:
            self._presence = RegistryDirectory(config.registry_url, self.inflight,
                                               org=config.org, unit=config.unit)
        elif own:
            self._presence = DiscoveryDirectory(self.mqtt.discovery, self.inflight)
        if directory is None:
            assert self._presence is not None
            directory = self._presence
        self.directory: AgentDirectory = directory
        self._settings = ProxySettings(reject_offline=config.reject_offline,
                                       validate_input_modes=config.validate_input_modes,
                                       forward_headers=frozenset(
                                           h.strip().lower() for h in config.forward_headers))
        self._app_settings = AgentAppSettings(max_body_bytes=config.max_body_bytes,
                                              card_cache_control=config.card_cache_control,
                                              enable_v0_3_compat=config.enable_v0_3_compat,
                                              lean_jsonrpc=config.lean_jsonrpc)
        if self.metrics is not None:
            self.metrics.gauge(N.GATEWAY_AGENTS,
                               lambda: [((), float(len(self.directory.entries())))])
        self.app: ASGIApp = ObservedApp(
            service="gateway", health=self.health, metrics=self.metrics,
            app=GatewayApp(directory=self.directory, agent_app=self._agent_app,
                           public_url=config.public_url),
            route_of=gateway_route, own_healthz=False)
        self._running = False

    async def __aenter__(self) -> Gateway:
        if self._running:
            raise RuntimeError("Gateway is already running (not reentrant)")
        tracing.configure_tracing(self.config.tracing)
        await self.mqtt.__aenter__()
        try:
            if self._presence is not None:
                await self._presence.start()
        except BaseException:
            await self.mqtt.__aexit__(None, None, None)
            raise
        self._running = True
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._running:
            return
        self._running = False
        try:
            if self._presence is not None:
                await self._presence.aclose()
        finally:
            await self.mqtt.__aexit__(exc_type, exc, tb)
            if self.metrics is not None:
                self.metrics.shutdown()

    def _card_of(self, ref: AgentRef) -> AgentCard:
        entry = self.directory.get(ref)
        if entry is None or entry.card is None:
            raise AgentNotFoundError(f"agent {ref} is no longer known", agent=str(ref))
        return entry.card

    def _agent_app(self, ref: AgentRef) -> ASGIApp:
        def rewrite(card: AgentCard) -> AgentCard:
            return gateway_card(card, base_url=current_base_url(), ref=ref)

        async def current_card(_: AgentCard) -> AgentCard:
            return rewrite(self._card_of(ref))

        handler = MqttProxyHandler(ref=ref, transport=self.mqtt.transport_for(ref),
                                   directory=self.directory, inflight=self.inflight,
                                   settings=self._settings, rewrite_card=rewrite)

        def last_modified() -> float | None:
            entry = self.directory.get(ref)
            return entry.updated_at if entry is not None else None

        app = build_agent_app(handler, card=self._card_of(ref), card_modifier=current_card,
                              settings=self._app_settings, last_modified=last_modified)
        # Apps are built at an agent's first request, after the process set tracing up.
        return app if tracing.tracer() is None else TracedHttpApp(app, route=f"/{ref}")


class GatewayServer:
    """A :class:`Gateway` served by uvicorn; ``url`` is where it listens."""

    def __init__(self, config: GatewayConfig, *, directory: AgentDirectory | None = None) -> None:
        self.config = config
        self.gateway = Gateway(config, directory=directory)
        self._server: EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._url = ""

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (useful with ``port=0``)."""
        if not self._url:
            raise RuntimeError("GatewayServer is not running")
        return self._url

    async def __aenter__(self) -> GatewayServer:
        if self._task is not None:
            raise RuntimeError("GatewayServer is already running (not reentrant)")
        await self.gateway.__aenter__()
        try:
            await self._start_http()
        except BaseException:
            await self.gateway.__aexit__(None, None, None)
            raise
        return self

    async def _start_http(self) -> None:
        cfg = self.config
        ucfg = uvicorn.Config(self.gateway.app, host=cfg.host, port=cfg.port, lifespan="off",
                              log_level="warning", access_log=False,
                              timeout_keep_alive=max(1, round(cfg.keepalive_timeout)),
                              timeout_graceful_shutdown=max(1, round(cfg.shutdown_grace)))
        sock = listen_socket(cfg.host, cfg.port)  # a bind failure raises OSError here
        server = EmbeddedUvicorn(ucfg)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="a2a-mqtt-gateway.http")
        listening = asyncio.create_task(server.listening.wait(), name="a2a-mqtt-gateway.listening")
        done, _ = await asyncio.wait({task, listening}, timeout=30.0,
                                     return_when=asyncio.FIRST_COMPLETED)
        if listening not in done:
            listening.cancel()
            server.should_exit = True
            sock.close()
            if task in done:
                task.result()  # re-raise the startup failure
            raise RuntimeError(f"the gateway did not start listening on {cfg.host}:{cfg.port}")
        host, port = sock.getsockname()[:2]
        self._server, self._task = server, task
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{port}"
        log.info("gateway serving on %s (broker %s)", self._url, cfg.connection.display_url())

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        self._url = ""
        try:
            if server is not None and task is not None:
                server.should_exit = True
                try:
                    async with asyncio.timeout(self.config.shutdown_grace + 5.0):
                        await task
                except TimeoutError:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            await self.gateway.__aexit__(exc_type, exc, tb)

    async def serve(self, stop: asyncio.Event | None = None, *,
                    on_ready: Callable[[], None] | None = None) -> None:
        """Start, run until ``stop`` is set or SIGINT/SIGTERM arrives, then stop gracefully
        (a2a_mqtt/service.py); ``on_ready`` is called once serving."""
        await serve_until_stopped(self, stop, on_ready=on_ready)
