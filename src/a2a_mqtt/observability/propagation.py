"""Trace context on the HTTP side: ``traceparent``/``tracestate`` headers in and out.

The MQTT side lives in :mod:`a2a_mqtt.binding.tracecontext` (User
Properties); HTTP headers use the same W3C format under the same names, so
both go through the same checks. :class:`TracedHttpApp` is the gateway's HTTP
server span: it continues the caller's ``traceparent`` (or starts a new root)
and makes the span current for the request, so the requester's MQTT call
below it becomes its child.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from a2a_mqtt.binding.tracecontext import TRACEPARENT, TRACESTATE, extract, inject
from a2a_mqtt.observability import tracing

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TracedHttpApp", "context_from_headers", "trace_headers"]

_WANTED = (TRACEPARENT.encode(), TRACESTATE.encode())


def context_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> Context:
    """The remote parent named by ASGI request headers (an empty context if none is
    valid). HTTP allows one ``traceparent``; should several come, the last wins."""
    props = [(k.lower().decode("latin-1"), v.decode("latin-1"))
             for k, v in headers if k.lower() in _WANTED]
    return extract(props)


def trace_headers(context: Context | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) headers for an outgoing HTTP request naming
    the span of ``context`` (default: the current one); empty without a valid span."""
    return dict(inject(context))


class TracedHttpApp:
    """Wraps an ASGI app: each HTTP request is a SERVER span (when tracing is on)."""

    def __init__(self, app: ASGIApp, *, route: str) -> None:
        self._app = app
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or tracing.tracer() is None:
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        attrs = {"http.request.method": method, "url.path": scope["path"],
                 "http.route": self._route, "url.scheme": scope.get("scheme", "http")}
        parent = context_from_headers(scope.get("headers", ()))
        with tracing.span(f"{method} {self._route}", kind=SpanKind.SERVER, attributes=attrs,
                          parent=parent) as span:

            async def traced_send(message: Message) -> None:
                if span is not None and message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
                await send(message)

            await self._app(scope, receive, traced_send)
