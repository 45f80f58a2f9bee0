"""Routing: the gateway's top-level ASGI app, and the app of each agent.

Agents come and go while the gateway runs, so there is no fixed route table:
:class:`GatewayApp` parses each request's path (:func:`layout.candidates`),
looks the agent up in the directory, and hands the request to that agent's
app (built on first use, then cached; dropped once the agent is gone).
Besides agent paths:

* ``GET /``: the index (HTML, or JSON with ``?format=json`` or
  ``Accept: application/json``);
* ``GET /healthz``: ``{"status": "ok", "agents": N}``;
* ``GET /openapi.json``: the HTTP surface as OpenAPI 3.1 (:mod:`.openapi`).

Anything else is a 404 with a JSON body: a JSON-RPC error object for a POST
to what looks like an agent's JSON-RPC endpoint, a ``google.rpc.Status``
otherwise.

One agent's app (:func:`build_agent_app`) is composed from a2a-sdk's own
route factories::

    AgentHttpGuard (content type, body limit, gateway-error status codes, headers)
      Router
        GET  /.well-known/agent-card.json   create_agent_card_routes (card rewritten per request)
        POST /                              create_jsonrpc_routes    (JSON-RPC + SSE)
        *    /rest/...                      create_rest_routes       (HTTP+JSON + SSE)

All three call the same :class:`MqttProxyHandler`. The call context is
a2a-sdk's ``DefaultServerCallContextBuilder`` (headers in ``state['headers']``,
requested extensions, user) plus the request's :class:`Outcome`.

JSON-RPC ``SendMessage`` and ``SendStreamingMessage`` (the common calls) skip the
router and a2a-sdk's dispatcher: once the guard has checked the body, :class:`~.lean.LeanJsonRpc`
answers it from the decoded JSON, with the same context builder, version
check, handler checks and error objects (``AgentAppSettings.lean_jsonrpc``).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import RequestHandler
from a2a.server.routes import (
    DefaultServerCallContextBuilder,
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.types.a2a_pb2 import AgentCard
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_mqtt._uvicorn import empty_lifespan
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.gateway.errors import (
    AgentNotFoundError,
    http_error_body,
    jsonrpc_error_body,
    rest_error_body,
)
from a2a_mqtt.gateway.index import index_html, index_json
from a2a_mqtt.gateway.layout import REST_PREFIX, candidates
from a2a_mqtt.gateway.lean import LeanJsonRpc
from a2a_mqtt.gateway.middleware import AgentHttpGuard, header, json_response, route_path
from a2a_mqtt.gateway.openapi import openapi_document
from a2a_mqtt.gateway.presence import AgentDirectory
from a2a_mqtt.gateway.proxy import OUTCOME, MqttProxyHandler

__all__ = [
    "AgentAppSettings",
    "GatewayApp",
    "GatewayContextBuilder",
    "build_agent_app",
    "current_base_url",
    "gateway_route",
]

log = logging.getLogger("a2a_mqtt.gateway")

_BASE_URL: contextvars.ContextVar[str] = contextvars.ContextVar(
    "a2a_mqtt_gateway_base_url", default="http://127.0.0.1")


def current_base_url() -> str:
    """The gateway's base URL as the current request reached it (or as configured)."""
    return _BASE_URL.get()


_FIXED_ROUTES = frozenset({"/", "/openapi.json", "/healthz"})


def gateway_route(_method: str, path: str) -> str:
    """The route template a request path falls under, for metrics: agent ids never
    appear (they would mint a series per agent and per invented path)."""
    if path in _FIXED_ROUTES:
        return path
    found = candidates(path)
    if not found:
        return "other"
    rest = found[0].rest
    if rest == "/":
        return "/{agent}/"
    if rest.startswith("/.well-known/"):
        return "/{agent}/.well-known/agent-card.json"
    if rest == REST_PREFIX or rest.startswith(REST_PREFIX + "/"):
        return "/{agent}/rest"
    return "/{agent}/other"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAppSettings:
    """The HTTP options of every agent app."""

    max_body_bytes: int = 1_048_576
    card_cache_control: str | None = None
    enable_v0_3_compat: bool = False
    lean_jsonrpc: bool = True
    """JSON-RPC ``SendMessage`` through :mod:`.lean` (off: a2a-sdk's route, as every
    other method; the tests compare the two)."""


class GatewayContextBuilder(DefaultServerCallContextBuilder):
    """a2a-sdk's call context, plus the request's Outcome for the HTTP layer."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        outcome = request.scope.get(OUTCOME)
        if outcome is not None:
            context.state[OUTCOME] = outcome
        return context


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await json_response(send, 404, {"error": {
        "code": 404, "status": "NOT_FOUND",
        "message": f"no A2A endpoint at {route_path(scope)!r} of this agent; the JSON-RPC "
                   f"endpoint is the agent's URL itself, HTTP+JSON is under {REST_PREFIX}/"}})


def build_agent_app(handler: RequestHandler, *, card: AgentCard,
                    card_modifier: Callable[[AgentCard], Awaitable[AgentCard]],
                    settings: AgentAppSettings,
                    last_modified: Callable[[], float | None] | None = None) -> ASGIApp:
    """The ASGI app serving one agent at its prefix (mounted by the gateway's router)."""
    builder = GatewayContextBuilder()
    routes: list[BaseRoute] = [
        *create_agent_card_routes(card, card_modifier=card_modifier,
                                  cache_control=settings.card_cache_control),
        *create_jsonrpc_routes(handler, "/", context_builder=builder,
                               enable_v0_3_compat=settings.enable_v0_3_compat),
        # No slash redirects: an unknown path is a 404 with an error body, not a 307.
        Mount(REST_PREFIX, app=Router(routes=create_rest_routes(
            handler, context_builder=builder, enable_v0_3_compat=settings.enable_v0_3_compat),
            default=_not_found, redirect_slashes=False)),
    ]
    # The lean path skips a2a-sdk's dispatcher; with the 0.3 adapter on, every method
    # stays with a2a-sdk (it decides which names are 0.3's).
    lean = (LeanJsonRpc(handler=handler, context_builder=builder)
            if isinstance(handler, MqttProxyHandler) and settings.lean_jsonrpc
            and not settings.enable_v0_3_compat else None)
    return AgentHttpGuard(Router(routes=routes, default=_not_found, redirect_slashes=False),
                          max_body=settings.max_body_bytes, last_modified=last_modified,
                          any_method=settings.enable_v0_3_compat, lean=lean)


class GatewayApp:
    """Routes ``/{org}/{unit}/{agent}/...`` to per-agent apps (pure ASGI)."""

    def __init__(self, *, directory: AgentDirectory, agent_app: Callable[[AgentRef], ASGIApp],
                 public_url: str | None = None) -> None:
        self._directory = directory
        self._make = agent_app
        self._public = public_url.rstrip("/") if public_url else None
        self._apps: dict[AgentRef, ASGIApp] = {}
        self._openapi = openapi_document()

    def _base_url(self, scope: Scope) -> str:
        if self._public is not None:
            return self._public
        host = header(scope, b"host")
        if host is None:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await empty_lifespan(receive, send)  # the Gateway object owns the resources
            return
        if kind != "http":
            await receive()
            await send({"type": "websocket.close", "code": 1003})
            return
        token = _BASE_URL.set(self._base_url(scope))
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._http(scope, receive, tracked)
        except Exception:
            # A defect (agent apps answer their own failures): logged, and answered in
            # JSON if nothing was sent yet, never with the server's plain-text 500.
            log.exception("gateway: %s %s failed", scope["method"], route_path(scope))
            if started:
                raise
            await json_response(send, 500, http_error_body(500, "internal error in the "
                                                                "gateway (logged)"))
        finally:
            _BASE_URL.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if path == "/" and scope["method"] in ("GET", "HEAD"):
            await self._index(scope, send)
            return
        if path == "/openapi.json" and scope["method"] == "GET":
            await json_response(send, 200, self._openapi)
            return
        if path == "/healthz":
            await json_response(send, 200, {"status": "ok",
                                            "agents": len(self._directory.entries())})
            return
        targets = candidates(path)
        for target in targets:
            entry = self._directory.get(target.ref)
            if entry is None or entry.card is None:
                self._apps.pop(target.ref, None)
                continue
            app = self._apps.get(target.ref)
            if app is None:
                app = self._apps[target.ref] = self._make(target.ref)
            root = scope.get("root_path", "") + target.prefix
            await app({**scope, "root_path": root, "path": root + target.rest},
                      receive, send)
            return
        root_targets = [t for t in targets if t.rest == "/"]
        named = (root_targets or targets)[0].ref if targets else None
        await self._not_found(scope, send, path, named, jsonrpc=bool(root_targets))

    async def _not_found(self, scope: Scope, send: Send, path: str, ref: AgentRef | None,
                         *, jsonrpc: bool) -> None:
        if ref is None:
            error = AgentNotFoundError(f"{path!r} names no agent: agents live at "
                                       "/{org}/{unit}/{agent}/ (see GET / for the list)")
        else:
            error = AgentNotFoundError(f"no agent {ref} is known to this gateway "
                                       "(see GET / for the list)", agent=str(ref))
        body = (jsonrpc_error_body(None, error) if jsonrpc and scope["method"] == "POST"
                else rest_error_body(error))
        await json_response(send, 404, body)

    async def _index(self, scope: Scope, send: Send) -> None:
        entries = self._directory.entries()
        base = current_base_url()
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        accept = header(scope, b"accept") or ""
        if "format=json" in query or accept.startswith("application/json"):
            await json_response(send, 200, index_json(entries, base))
            return
        page = index_html(entries, base).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                (b"content-length", str(len(page)).encode())]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else page})
