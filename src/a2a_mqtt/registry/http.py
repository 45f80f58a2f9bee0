"""The registry's HTTP API: a Starlette app over a :class:`RegistryService`.

Routes (documented in ``/openapi.json`` and docs/registry.md):

* ``GET /agents`` list with filters and cursor pagination; ``GET /agents/{ref}``
  one entry; ``GET /cards/{ref}`` the card as retained; ``GET /rejected``;
  ``GET /stats``; ``GET /events`` (SSE); ``GET /health``; ``GET /ready``;
* admin, with ``Authorization: Bearer <admin_token>``: ``PUT /agents/{ref}``
  retains a card on an agent's behalf, ``DELETE /agents/{ref}`` clears one.

Every error is JSON ``{"error": CODE, "message": TEXT}`` with a 4xx/5xx status;
a malformed query is a 400 that names the parameter and what it expects. An
unexpected exception is logged and answered 500 ``internal_error`` with a fixed
message: exception text never reaches a client.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.errors import ConfigError, TransportError
from a2a_mqtt.registry.errors import QueryError
from a2a_mqtt.registry.ingest import Ingest
from a2a_mqtt.registry.openapi import openapi_document
from a2a_mqtt.registry.query import PARAMETERS, Query
from a2a_mqtt.registry.render import entry_json, page_json, rejection_dict
from a2a_mqtt.registry.service import RegistryService
from a2a_mqtt.registry.sse import event_stream
from a2a_mqtt.registry.validate import check_card

__all__ = ["create_app", "registry_route"]

log = logging.getLogger("a2a_mqtt.registry")

_JSON: Final = "application/json"
_PAGE_ONLY: Final = frozenset({"limit", "cursor", "card"})
_STREAM_PARAMS: Final = (PARAMETERS - _PAGE_ONLY) | {"last_event_id"}
_REJECTED_PARAMS: Final = frozenset({"org", "unit", "limit", "cursor"})


class _Error(HTTPException):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status, message)
        self.code = code
        self.extra = extra


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _ref(request: Request) -> AgentRef:
    text = request.path_params["ref"]
    try:
        return AgentRef.parse(text)
    except ConfigError as exc:
        raise _Error(400, "bad_request", str(exc)) from None


def _params(request: Request, allowed: frozenset[str]) -> list[tuple[str, str]]:
    items = request.query_params.multi_items()
    for name, _ in items:
        if name not in allowed:
            raise QueryError(f"unknown query parameter {name!r}; known here: "
                             f"{', '.join(sorted(allowed))}")
    return items


class _Api:
    def __init__(self, service: RegistryService) -> None:
        self.service = service
        self.index = service.index

    async def list_agents(self, request: Request) -> Response:
        started = time.perf_counter()
        query = Query.from_params(request.query_params.multi_items())
        page = self.index.query(query)
        body = page_json(page.items, total=page.total, next_cursor=page.next,
                         event_id=self.service.feed.event_id(page.seq), card=query.card)
        if self.service.metrics is not None:
            self.service.metrics.query("list", time.perf_counter() - started)
        return Response(body, media_type=_JSON)

    async def agent(self, request: Request) -> Response:
        ref = _ref(request)
        if request.method == "PUT":
            return await self._register(request, ref)
        if request.method == "DELETE":
            return await self._delete(request, ref)
        _params(request, frozenset())
        entry = self.index.get(ref)
        if entry is None:
            raise self._not_found(ref)
        return Response(entry_json(entry), media_type=_JSON, headers={"ETag": f'"{entry.etag}"'})

    async def card(self, request: Request) -> Response:
        ref = _ref(request)
        _params(request, frozenset())
        entry = self.index.get(ref)
        if entry is None:
            raise self._not_found(ref)
        return Response(entry.payload, media_type=_JSON, headers={"ETag": f'"{entry.etag}"'})

    def _not_found(self, ref: AgentRef) -> _Error:
        rejection = self.index.rejected.get(discovery_topic(ref))
        if rejection is not None:
            return _Error(404, "rejected", f"the card of {ref} was rejected: "
                          + "; ".join(rejection.reasons), rejection=rejection_dict(rejection))
        return _Error(404, "not_found", f"no card for {ref} in this registry")

    async def rejected(self, request: Request) -> Response:
        query = Query.from_params(_params(request, _REJECTED_PARAMS))
        items, total, cursor = self.index.rejections(org=query.org, unit=query.unit,
                                                     after=query.after, limit=query.limit)
        return JSONResponse({"total": total, "next": cursor,
                             "items": [rejection_dict(r) for r in items]})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.service.stats())

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if self.service.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "message": "connecting to the broker or "
                             "still indexing the retained cards"}, status_code=503)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def events(self, request: Request) -> Response:
        items = _params(request, _STREAM_PARAMS)
        resume = request.headers.get("last-event-id")
        filters: list[tuple[str, str]] = []
        for name, value in items:
            if name == "last_event_id":
                resume = resume or value
            else:
                filters.append((name, value))
        query = Query.from_params(filters)
        feed = self.service.feed
        after = feed.parse_event_id(resume) if resume else None
        match = query.matches_change if filters else None
        sub = feed.subscribe(after=after, match=match, resync=bool(resume) and after is None)
        return event_stream(sub, epoch=feed.epoch, heartbeat=self.service.config.heartbeat)

    # -- admin ----------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        token = self.service.config.admin_token
        if token is None:
            raise _Error(403, "forbidden", "admin operations are disabled on this registry "
                         "(it has no admin token)")
        given = request.headers.get("authorization", "")
        scheme, _, credential = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode(), token.encode()):
            raise _Error(401, "unauthorized", "admin operations need "
                         "'Authorization: Bearer <admin token>'")

    def _publisher(self, ref: AgentRef) -> Ingest:
        cfg = self.service.config
        if (cfg.org is not None and ref.org != cfg.org) or (
                cfg.unit is not None and ref.unit != cfg.unit):
            raise _Error(400, "out_of_scope", f"{ref} is outside this registry's scope")
        ingest = self.service.ingest
        if ingest is None or not ingest.connected:
            raise _Error(503, "unavailable", "the registry is not connected to the broker")
        return ingest

    async def _body(self, request: Request) -> bytes:
        limit = self.service.config.max_card_bytes
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _Error(413, "too_large", f"a card may have at most {limit} bytes")
        return bytes(body)

    async def _register(self, request: Request, ref: AgentRef) -> Response:
        self._authorize(request)
        params = dict(_params(request, frozenset({"status"})))
        status = params.get("status", "online").lower()
        if status not in ("online", "offline"):
            raise QueryError(f"status must be online or offline; got {status!r}")
        body = await self._body(request)
        if not body:
            raise _Error(400, "bad_request", "the request body must be the card JSON")
        verdict = check_card(ref, body, max_bytes=self.service.config.max_card_bytes)
        if verdict.data is None:
            raise _Error(400, "invalid_card", f"the card for {ref} is invalid: "
                         + "; ".join(verdict.reasons), reasons=list(verdict.reasons))
        await self._publisher(ref).publish_card(ref, body, status=status)
        entry = self.index.get(ref)
        if entry is None:
            raise self._not_found(ref)
        return Response(entry_json(entry), media_type=_JSON)

    async def _delete(self, request: Request, ref: AgentRef) -> Response:
        self._authorize(request)
        _params(request, frozenset())
        ingest = self._publisher(ref)
        if self.index.get(ref) is None and discovery_topic(ref) not in self.index.rejected:
            raise _Error(404, "not_found", f"no card for {ref} in this registry")
        await ingest.publish_card(ref, b"")
        return Response(status_code=204)


async def _on_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, QueryError):
        return _error(400, "bad_request", str(exc))
    if isinstance(exc, _Error):
        return _error(exc.status_code, exc.code, str(exc.detail), **exc.extra)
    if isinstance(exc, HTTPException):
        return _error(exc.status_code, "http_error", str(exc.detail))
    if isinstance(exc, TransportError | TimeoutError):
        return _error(503, "unavailable", f"the broker did not complete the operation: {exc}")
    log.error("registry: %s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "the registry failed to answer this request; "
                  "the error is in its log")


_ROUTES: Final = ("/agents/", "/cards/")


def registry_route(_method: str, path: str) -> str:
    """The route template of a path, for metrics (never an agent id)."""
    for prefix in _ROUTES:
        if path.startswith(prefix):
            return prefix + "{ref}"
    if path in ("/agents", "/rejected", "/stats", "/events", "/health", "/ready",
                "/openapi.json"):
        return path
    return "other"


def create_app(service: RegistryService) -> Starlette:
    """The registry's ASGI app; every route reads ``service``."""
    api = _Api(service)
    routes = [
        Route("/agents", api.list_agents, methods=["GET"]),
        Route("/agents/{ref:path}", api.agent, methods=["GET", "PUT", "DELETE"]),
        Route("/cards/{ref:path}", api.card, methods=["GET"]),
        Route("/rejected", api.rejected, methods=["GET"]),
        Route("/stats", api.stats, methods=["GET"]),
        Route("/events", api.events, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/ready", api.ready, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {QueryError: _on_error, HTTPException: _on_error,
                                Exception: _on_error}
    return Starlette(routes=routes, exception_handlers=handlers)


