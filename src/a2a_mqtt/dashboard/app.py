"""The dashboard's ASGI app: the page, its static files, and the API (:mod:`.api`).

The page is one HTML file and small ES modules shipped in the wheel
(``static/``): no CDN, no build step, nothing fetched from the network.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_mqtt.dashboard.api import Api, ApiError, on_error
from a2a_mqtt.dashboard.compose import ComposeError

if TYPE_CHECKING:
    from a2a_mqtt.dashboard.server import DashboardState

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = str(files("a2a_mqtt.dashboard") / "static")
_SECURITY_HEADERS = {
    # Only our own files: the page cannot be made to load or send anywhere else.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _index(request: Request) -> Response:
    return FileResponse(f"{STATIC_DIR}/index.html", headers={
        **_SECURITY_HEADERS, "Cache-Control": "no-store"})


def create_app(state: DashboardState) -> Starlette:
    """The dashboard's ASGI app; every route reads ``state``."""
    api = Api(state)
    routes = [
        Route("/", _index, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/api/info", api.info, methods=["GET"]),
        Route("/api/session", api.sign_in, methods=["POST", "DELETE"]),
        Route("/api/fleet", api.fleet, methods=["GET"]),
        Route("/api/rejected", api.rejected, methods=["GET"]),
        Route("/api/stats", api.stats, methods=["GET"]),
        Route("/api/events", api.events, methods=["GET"]),
        Route("/api/agents/{ref:path}", api.agent, methods=["GET"]),
        Route("/api/send", api.send, methods=["POST"]),
        Route("/api/subscribe", api.subscribe, methods=["POST"]),
        Route("/api/cancel", api.cancel, methods=["POST"]),
        Route("/api/task", api.task, methods=["GET"]),
        Route("/api/tasks", api.tasks, methods=["GET"]),
        Route("/api/remote-tasks", api.remote_tasks, methods=["GET"]),
        Route("/api/broker", api.broker, methods=["GET"]),
        Route("/api/metrics", api.metrics, methods=["GET"]),
        Route("/api/traces", api.traces, methods=["GET"]),
        Route("/api/traces/{trace_id}", api.trace, methods=["GET"]),
        Route("/v1/traces", api.otlp_traces, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    handlers: dict[Any, Any] = {ApiError: on_error, ComposeError: on_error,
                                HTTPException: on_error, Exception: on_error}
    return Starlette(routes=routes, exception_handlers=handlers,
                     middleware=[Middleware(_SecurityHeaders)])


class _SecurityHeaders:
    """Adds :data:`_SECURITY_HEADERS` to every response (pure ASGI: streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)
        await self.app(scope, receive, with_headers)
