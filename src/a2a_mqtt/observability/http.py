"""The HTTP face of observability: ``/metrics``, ``/healthz``, ``/readyz``.

:class:`ObservedApp` is pure ASGI. In front of a service's own app (gateway,
registry, expose) it answers those three paths and records every other request
in ``http.server.*`` under a route *template* (never the raw path: paths carry
agent ids and would mint a series each). Alone (agents) it is the whole app,
served by :class:`ObservabilityServer`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_mqtt._uvicorn import empty_lifespan
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.health import Health
from a2a_mqtt.service import HttpServer

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["ObservabilityServer", "ObservedApp", "answer"]

log = logging.getLogger("a2a_mqtt.observability")

RouteOf = Callable[[str, str], str]
"""(method, path) -> a route template such as ``/{agent}/rest/*``."""
_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
_SSE = b"text/event-stream"


def _no_routes(_method: str, _path: str) -> str:
    return "other"


async def answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    """One whole uncached response on a raw ASGI ``send`` (the health and metrics
    endpoints, here and in the workers' supervisor)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


class ObservedApp:
    """``/metrics``, ``/healthz``, ``/readyz``; everything else to ``app``, measured."""

    def __init__(self, *, service: str, health: Health, metrics: Metrics | None,
                 app: ASGIApp | None = None, route_of: RouteOf = _no_routes,
                 own_healthz: bool = True) -> None:
        """``own_healthz=False`` leaves ``/healthz`` to ``app`` (the gateway's says more)."""
        self._service = service
        self._paths = _PATHS if own_healthz or app is None else _PATHS - {"/healthz"}
        self._health = health
        self._metrics = metrics
        self._app = app
        self._route_of = route_of
        if metrics is not None:
            self._requests = metrics.sum(N.HTTP_REQUESTS)
            self._duration = metrics.histogram(N.HTTP_DURATION)
            self._streams = metrics.sum(N.HTTP_OPEN_STREAMS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self._paths and scope["method"] in (
                "GET", "HEAD"):
            await self._own(scope["path"], send)
            return
        if self._app is None:
            if scope["type"] == "http":
                await answer(send, 404, b'{"error": "not found"}', "application/json")
            elif scope["type"] == "lifespan":
                await empty_lifespan(receive, send)
            return
        if scope["type"] != "http" or self._metrics is None:
            await self._app(scope, receive, send)
            return
        await self._measured(scope, receive, send, self._app)

    async def _own(self, path: str, send: Send) -> None:
        if path == "/metrics":
            if self._metrics is None:
                await answer(send, 404, b"metrics are off\n", "text/plain")
                return
            body, content_type = self._metrics.render()
            await answer(send, 200, body, content_type)
        elif path == "/healthz":
            await answer(send, 200, b'{"status": "ok"}', "application/json")
        else:
            checks = self._health.status()
            ready = bool(checks) and all(checks.values())
            body = json.dumps({"ready": ready, "checks": checks}).encode()
            await answer(send, 200 if ready else 503, body, "application/json")

    async def _measured(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        method = scope["method"]
        route = self._route_of(method, scope["path"])
        start = time.perf_counter()
        status = 500
        stream = False

        async def tracked(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type" and value.startswith(_SSE):
                        stream = True
                        self._streams.add((self._service, route))
                key = (self._service, route, method, str(status))
                self._duration.record(key, time.perf_counter() - start)
            await send(message)

        try:
            await app(scope, receive, tracked)
        finally:
            if stream:
                self._streams.add((self._service, route), -1)
            self._requests.add((self._service, route, method, str(status)))


class ObservabilityServer(HttpServer):
    """uvicorn serving an :class:`ObservedApp` (or another ASGI app answering the same
    paths) on ``host:port`` (0: a free port); ``url`` is where it listens."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0,
                 name: str = "a2a-mqtt.observability") -> None:
        self._app = app
        self._host = host
        self._port = port
        self._name = name

    async def _start(self, stack: AsyncExitStack) -> None:
        await self._serve_http(stack, uvicorn.Config(
            self._app, lifespan="off", log_level="warning", access_log=False,
            timeout_graceful_shutdown=1),
            host=self._host, port=self._port, name=self._name, stop_grace=5.0)
        log.info("metrics and health on %s/metrics, /healthz, /readyz", self.url)
