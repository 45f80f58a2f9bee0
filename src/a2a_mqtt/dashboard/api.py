"""The dashboard's HTTP API (``/api/...``): the fleet, one agent, calls, sign-in.

Every error is JSON ``{"error": CODE, "message": TEXT}`` with a 4xx/5xx
status; an unexpected exception is logged and answered 500 with a fixed
message (its text never reaches the browser). Calls stream NDJSON: one JSON
object per line, as the agent's replies arrive (:mod:`a2a_mqtt.dashboard.calls`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from a2a_mqtt._version import __version__
from a2a_mqtt.binding.card import ROUTING_EXTENSION_URI
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.dashboard.auth import check_secret
from a2a_mqtt.dashboard.compose import ComposeError, compose_send, parse_json_body
from a2a_mqtt.dashboard.traces import TracesUnavailable
from a2a_mqtt.errors import ConfigError

if TYPE_CHECKING:
    from a2a_mqtt.dashboard.server import DashboardState

__all__ = ["Api", "ApiError"]

log = logging.getLogger("a2a_mqtt.dashboard")

COOKIE: Final = "a2a_dashboard_session"
_FLEET_PARAMS: Final = frozenset({"q", "skill", "tag", "status", "kind", "org", "unit",
                                  "cursor", "limit", "input", "output", "name"})
_REJECTED_PARAMS: Final = frozenset({"org", "unit", "cursor", "limit"})


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.code = code


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def parse_ref(text: str | None) -> AgentRef:
    """An agent reference from the URL, or 400 saying what one looks like."""
    if not text:
        raise ApiError(400, "bad_request", "name an agent: agent=org/unit/agent "
                       "(or org/unit/pool/POOL)")
    if len(text) > 400:
        raise ApiError(400, "bad_request", "the agent reference is too long")
    try:
        return AgentRef.parse(text)
    except ConfigError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


def gateway_links(base: str | None, ref: AgentRef) -> dict[str, str] | None:
    """The gateway routes of ``ref`` (docs/gateway.md), when a gateway is configured."""
    if base is None:
        return None
    path = "/".join(quote(p, safe="") for p in str(ref).split("/"))
    root = f"{base.rstrip('/')}/{path}"
    return {"card": f"{root}/.well-known/agent-card.json", "jsonrpc": root,
            "rest": f"{root}/rest"}


def pool_of_card(card: Any) -> str | None:
    """The pool a member card serves (routing extension ``pool``), from its JSON."""
    if not isinstance(card, dict):
        return None
    for ext in (card.get("capabilities") or {}).get("extensions") or ():
        if isinstance(ext, dict) and ext.get("uri") == ROUTING_EXTENSION_URI:
            pool = (ext.get("params") or {}).get("pool")
            return pool if isinstance(pool, str) else None
    return None


def _ndjson(items: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        async for item in items:
            yield json.dumps(item, ensure_ascii=False, default=str).encode() + b"\n"
    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class Api:
    """Route handlers over one :class:`DashboardState`."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.config = state.config

    # -- registry reads ---------------------------------------------------------------

    async def _registry(self, path: str, params: Sequence[tuple[str, str]] = ()
                        ) -> httpx.Response:
        try:
            return await self.state.http.get(f"{self.state.registry_url}{path}",
                                             params=list(params))
        except httpx.HTTPError as exc:
            raise ApiError(503, "registry_unavailable",
                           f"the registry did not answer ({type(exc).__name__})") from None

    @staticmethod
    def _params(request: Request, allowed: frozenset[str]) -> list[tuple[str, str]]:
        items = request.query_params.multi_items()
        for name, _ in items:
            if name not in allowed:
                raise ApiError(400, "bad_request", f"unknown query parameter {name!r}; known: "
                               f"{', '.join(sorted(allowed))}")
        return items

    @staticmethod
    def _relay(resp: httpx.Response) -> Response:
        return Response(resp.content, status_code=resp.status_code,
                        media_type=resp.headers.get("content-type", "application/json"))

    async def fleet(self, request: Request) -> Response:
        params = [p for p in self._params(request, _FLEET_PARAMS) if p[1] != ""]
        return self._relay(await self._registry("/agents", [*params, ("card", "false")]))

    async def rejected(self, request: Request) -> Response:
        return self._relay(await self._registry(
            "/rejected", self._params(request, _REJECTED_PARAMS)))

    async def stats(self, request: Request) -> Response:
        return self._relay(await self._registry("/stats"))

    async def agent(self, request: Request) -> Response:
        ref = parse_ref(request.path_params.get("ref"))
        resp = await self._registry(f"/agents/{ref}")
        if resp.status_code != 200:
            return self._relay(resp)
        entry = resp.json()
        out = {"entry": entry, "gateway": gateway_links(self.config.gateway_url, ref),
               "members": None, "pool": pool_of_card(entry.get("card"))}
        if ref.pool:
            members = await self._registry("/agents", [
                ("org", ref.org), ("unit", ref.unit), ("kind", "agent"), ("limit", "1000")])
            if members.status_code == 200:
                out["members"] = [
                    {k: v for k, v in m.items() if k != "card"}
                    for m in members.json().get("items", ())
                    if pool_of_card(m.get("card")) == str(ref)]
        return JSONResponse(out)

    async def events(self, request: Request) -> Response:
        return StreamingResponse(
            self.state.hub.frames(self.state.closing), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- sign-in ------------------------------------------------------------------------

    def signed_in(self, request: Request) -> bool:
        if not self.config.sign_in_required:
            return True
        return self.state.sessions.valid(request.cookies.get(COOKIE))

    def _may_act(self, request: Request) -> None:
        if self.config.read_only:
            raise ApiError(403, "read_only", "this dashboard is read-only: it does not send "
                           "or cancel")
        if not self.signed_in(request):
            raise ApiError(401, "sign_in_required", "sign in before sending or cancelling")

    async def info(self, request: Request) -> Response:
        return JSONResponse({
            "version": __version__, "readOnly": self.config.read_only,
            "signInRequired": self.config.sign_in_required,
            "signedIn": self.signed_in(request), "gatewayUrl": self.config.gateway_url,
            "identity": f"{self.config.org}/{self.config.unit}/{self.config.dashboard_id}",
            "maxUploadBytes": self.config.max_upload_bytes,
            "metricsSources": len(self.config.metrics_urls)})

    async def sign_in(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.sessions.close(request.cookies.get(COOKIE))
            resp = JSONResponse({"signedIn": False})
            resp.delete_cookie(COOKIE, path="/")
            return resp
        if not self.config.sign_in_required:
            return JSONResponse({"signedIn": True})
        body = parse_json_body(await self._body(request, 8192))
        secret = body.get("secret")
        if not isinstance(secret, str) or not check_secret(
                secret, password_hash=self.config.password_hash,
                access_token=self.config.access_token):
            raise ApiError(401, "bad_credentials", "wrong password or token")
        resp = JSONResponse({"signedIn": True})
        resp.set_cookie(COOKIE, self.state.sessions.open(), max_age=int(self.config.session_ttl),
                        httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
        return resp

    # -- calls --------------------------------------------------------------------------

    async def _body(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "too_large", f"the request is {int(declared)} bytes; this "
                           f"dashboard accepts at most {limit} bytes per send")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(413, "too_large", f"the request exceeds {limit} bytes, the "
                               "most this dashboard accepts per send")
        return bytes(body)

    def _task_id(self, request: Request) -> str:
        task = request.query_params.get("task", "")
        if not task or len(task) > 128:
            raise ApiError(400, "bad_request", "name a task: task=TASK_ID (at most 128 chars)")
        return task

    async def send(self, request: Request) -> Response:
        self._may_act(request)
        ref = parse_ref(request.query_params.get("agent"))
        body = await self._body(request, self.config.max_upload_bytes)
        params = compose_send(parse_json_body(body))
        return _ndjson(self.state.calls.stream(ref, "SendStreamingMessage", params))

    async def subscribe(self, request: Request) -> Response:
        self._may_act(request)
        ref = parse_ref(request.query_params.get("agent"))
        return _ndjson(self.state.calls.stream(ref, "SubscribeToTask",
                                               {"id": self._task_id(request)}))

    async def cancel(self, request: Request) -> Response:
        self._may_act(request)
        ref = parse_ref(request.query_params.get("agent"))
        out = await self.state.calls.unary(ref, "CancelTask", {"id": self._task_id(request)})
        return JSONResponse(out, status_code=502 if out["error"] else 200)

    async def task(self, request: Request) -> Response:
        ref = parse_ref(request.query_params.get("agent"))
        self._may_act(request)
        out = await self.state.calls.unary(ref, "GetTask", {"id": self._task_id(request)})
        return JSONResponse(out, status_code=502 if out["error"] else 200)

    async def tasks(self, request: Request) -> Response:
        agent = request.query_params.get("agent")
        ref = parse_ref(agent) if agent else None
        return JSONResponse({"items": self.state.calls.tasks(ref)})

    async def remote_tasks(self, request: Request) -> Response:
        self._may_act(request)
        ref = parse_ref(request.query_params.get("agent"))
        out = await self.state.calls.unary(ref, "ListTasks", {"pageSize": 50})
        return JSONResponse(out, status_code=502 if out["error"] else 200)

    # -- health, broker, metrics ------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "feed": self.state.hub.connected.is_set(),
                             "browsers": self.state.hub.subscribers,
                             "openCalls": self.state.calls.open_calls})

    async def broker(self, request: Request) -> Response:
        return JSONResponse(self.state.broker_health.snapshot())

    async def metrics(self, request: Request) -> Response:
        return JSONResponse(await self.state.metrics.collect(self.state.http))

    # -- traces (OTLP/HTTP in, call trees out) ---------------------------------------------

    async def otlp_traces(self, request: Request) -> Response:
        body = await self._body(request, self.config.max_upload_bytes)
        try:
            self.state.traces.add(body, request.headers.get("content-encoding", "").lower())
        except TracesUnavailable as exc:
            raise ApiError(501, "not_implemented", str(exc)) from None
        # An empty ExportTraceServiceResponse is an empty protobuf message.
        return Response(b"", media_type="application/x-protobuf")

    async def traces(self, request: Request) -> Response:
        task = request.query_params.get("task") or None
        store = self.state.traces
        return JSONResponse({"items": store.summaries(task), "spans": store.spans})

    async def trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        spans = self.state.traces.get(trace_id)
        if spans is None:
            raise ApiError(404, "not_found", f"no trace {trace_id[:64]!r} here (the newest "
                           f"{self.state.traces.max_spans} spans are kept)")
        return JSONResponse({"traceId": trace_id, "spans": spans})


async def on_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.code, str(exc.detail))
    if isinstance(exc, ComposeError):
        return error_response(400, "bad_request", str(exc))
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code, "http_error", str(exc.detail))
    log.error("dashboard: %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the dashboard failed to answer this "
                          "request; the error is in its log")
