"""Gateway and GatewayServer: Config -> Server -> run, as uvicorn does it.

* :class:`Gateway` owns the MQTT side (one requester session, discovery, the
  presence watch) and the ASGI app; run it under any ASGI server, or call it
  in process (``httpx.ASGITransport``) in tests.
* :class:`GatewayServer` adds uvicorn on ``config.host:config.port``.
* ``GatewayServer.serve()`` (or ``a2a_mqtt.run(config)``) runs one until SIGINT/SIGTERM.

Both are :class:`~a2a_mqtt.service.BaseServer` s (async context managers,
reusable, not reentrant); uvicorn runs in a named task, signals stay with the
caller.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import uvicorn
from a2a.types.a2a_pb2 import AgentCard
from starlette.types import ASGIApp

from a2a_mqtt._net import listen_socket
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
from a2a_mqtt.service import BaseServer, HttpServer

# listen_socket is re-exported: bench/gateway_compare.py imports it from here.
__all__ = ["Gateway", "GatewayServer", "listen_socket"]

log = logging.getLogger("a2a_mqtt.gateway")


class Gateway(BaseServer):
    """MQTT client + directory + ASGI app; an async context manager (reusable, not
    reentrant); ``serve`` runs it without HTTP (the caller serves ``app``)."""

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

    async def _start(self, stack: AsyncExitStack) -> None:
        tracing.configure_tracing(self.config.tracing)
        if self.metrics is not None:
            stack.callback(self.metrics.shutdown)  # last, after the MQTT side has stopped
        await stack.enter_async_context(self.mqtt)
        if self._presence is not None:
            await self._presence.start()
            stack.push_async_callback(self._presence.aclose)

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


class GatewayServer(HttpServer):
    """A :class:`Gateway` served by uvicorn; ``url`` is where it listens."""

    def __init__(self, config: GatewayConfig, *, directory: AgentDirectory | None = None) -> None:
        self.config = config
        self.gateway = Gateway(config, directory=directory)

    async def _start(self, stack: AsyncExitStack) -> None:
        cfg = self.config
        await stack.enter_async_context(self.gateway)
        await self._serve_http(stack, uvicorn.Config(
            self.gateway.app, lifespan="off", log_level="warning", access_log=False,
            timeout_keep_alive=max(1, round(cfg.keepalive_timeout)),
            timeout_graceful_shutdown=max(1, round(cfg.shutdown_grace))),
            host=cfg.host, port=cfg.port, name="a2a-mqtt-gateway",
            stop_grace=cfg.shutdown_grace + 5.0)
        log.info("gateway serving on %s (broker %s)", self.url, cfg.connection.display_url())
