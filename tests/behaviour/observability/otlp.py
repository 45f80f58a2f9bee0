"""Real OTLP/HTTP receivers for the tests: ExportTraceServiceRequest in, spans kept
(:func:`otlp_receiver`); ExportMetricsServiceRequest in, handed to the test
(:func:`metrics_receiver`)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.behaviour.gateway.conftest import asgi_server

KIND = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client",
        Span.SPAN_KIND_INTERNAL: "internal", Span.SPAN_KIND_PRODUCER: "producer",
        Span.SPAN_KIND_CONSUMER: "consumer"}


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    return getattr(v, which) if which else None


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any] = field(hash=False)
    scope: str = ""


class Collector:
    """What the receiver got, and a way to await it."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.requests = 0
        self._changed = asyncio.Condition()

    async def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        async with self._changed:
            self.requests += 1
            for rs in request.resource_spans:
                attrs = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(Received(
                            service=str(attrs.get("service.name")), name=s.name,
                            kind=KIND.get(s.kind, str(s.kind)), trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(), parent_id=s.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            scope=ss.scope.name))
            self._changed.notify_all()

    async def wait_for(self, ready: Callable[[list[Received]], bool],
                       timeout: float = 30.0) -> list[Received]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: ready(self.spans))
        return list(self.spans)


async def _body(scope: dict[str, Any], receive: Any) -> bytes:
    """The whole request body (protobuf, optionally gzip), decompressed."""
    assert scope["type"] == "http"
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    headers = dict(scope["headers"])
    if headers.get(b"content-encoding") == b"gzip":
        body = gzip.decompress(body)
    return body


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[str, Collector]]:
    """Serve OTLP/HTTP (protobuf, optionally gzip) at ``<url>/v1/traces``."""
    collector = Collector()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await _body(scope, receive)
        ok = scope["path"] == "/v1/traces" and scope["method"] == "POST"
        if ok:
            await collector.add(body)
        payload = ExportTraceServiceResponse().SerializeToString() if ok else b""
        await send({"type": "http.response.start", "status": 200 if ok else 404,
                    "headers": [(b"content-type", b"application/x-protobuf")]})
        await send({"type": "http.response.body", "body": payload})

    async with asgi_server(app) as url:
        yield url, collector


@asynccontextmanager
async def metrics_receiver(
        received: Callable[[ExportMetricsServiceRequest, dict[str, str]], None],
) -> AsyncIterator[str]:
    """Serve OTLP/HTTP metrics at ``<url>/v1/metrics``: each request, decoded, goes to
    ``received`` with its headers (on the event loop); yields ``<url>``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await _body(scope, receive)
        ok = scope["path"] == "/v1/metrics" and scope["method"] == "POST"
        if ok:
            received(ExportMetricsServiceRequest.FromString(body),
                     {k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 200 if ok else 404,
                    "headers": [(b"content-type", b"application/x-protobuf")]})
        await send({"type": "http.response.body", "body": b""})

    async with asgi_server(app) as url:
        yield url
