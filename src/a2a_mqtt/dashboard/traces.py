"""Traces: the dashboard as an OTLP/HTTP trace receiver (``POST /v1/traces``).

Services started with ``--otlp-endpoint http://DASHBOARD`` export their spans here
(docs/observability.md); the Traces page shows each trace as a call tree with its
timing, and finds a task's trace by ``a2a.task.id`` (the executor span's attribute).
Decoding needs ``opentelemetry-proto`` (the ``tracing`` extra); without it the
receiver answers 501 saying so. Bounded: the last ``max_spans`` spans are kept.
"""

from __future__ import annotations

import gzip
import zlib
from collections import OrderedDict
from typing import Any, Final

from a2a_mqtt.dashboard.compose import ComposeError

__all__ = ["TraceStore", "TracesUnavailable"]

_KINDS: Final = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_MAX_ATTRIBUTE: Final = 300
_MAX_INFLATED: Final = 16 * 1024 * 1024


class TracesUnavailable(Exception):
    """opentelemetry-proto is not installed: the receiver cannot decode OTLP."""


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    value = getattr(v, which)
    if which in ("string_value", "bool_value", "int_value", "double_value"):
        return value[:_MAX_ATTRIBUTE] if isinstance(value, str) else value
    return str(value)[:_MAX_ATTRIBUTE]


def _inflate(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ComposeError(f"unsupported Content-Encoding {encoding!r} (gzip or none)")
    try:
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        out = inflater.decompress(body, _MAX_INFLATED)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ComposeError(f"the body is not valid {encoding}: {exc}") from None
    if inflater.unconsumed_tail:
        raise ComposeError(f"the inflated body exceeds {_MAX_INFLATED} bytes")
    return out


class TraceStore:
    """Spans by trace, in arrival order; the oldest traces go first past ``max_spans``."""

    def __init__(self, max_spans: int = 20_000) -> None:
        self.max_spans = max_spans
        self.traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.spans = 0

    def add(self, body: bytes, encoding: str = "") -> int:
        """Store the spans of one ExportTraceServiceRequest; return how many."""
        try:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: PLC0415
                ExportTraceServiceRequest,
            )
        except ImportError:
            raise TracesUnavailable("this dashboard cannot decode OTLP: install "
                                    "'a2a-mqtt[tracing]' (opentelemetry-proto)") from None
        from google.protobuf.message import DecodeError  # noqa: PLC0415

        try:
            request = ExportTraceServiceRequest.FromString(_inflate(body, encoding))
        except DecodeError as exc:
            raise ComposeError(f"the body is not an OTLP ExportTraceServiceRequest: {exc}"
                               ) from None
        added = 0
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            service = str(resource.get("service.name", "?"))
            for ss in rs.scope_spans:
                for s in ss.spans:
                    trace_id = s.trace_id.hex()
                    self.traces.setdefault(trace_id, []).append({
                        "traceId": trace_id, "spanId": s.span_id.hex(),
                        "parentId": s.parent_span_id.hex(), "name": s.name[:200],
                        "kind": _KINDS.get(s.kind, str(s.kind)), "service": service,
                        "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                        "error": s.status.code == 2, "status": s.status.message[:200],
                        "attributes": {a.key[:100]: _value(a.value)
                                       for a in list(s.attributes)[:50]}})
                    self.traces.move_to_end(trace_id)
                    added += 1
        self.spans += added
        while self.spans > self.max_spans and self.traces:
            _, dropped = self.traces.popitem(last=False)
            self.spans -= len(dropped)
        return added

    def summaries(self, task: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest traces first (only those naming ``task``, when given)."""
        out = []
        for trace_id in reversed(self.traces):
            spans = self.traces[trace_id]
            tasks = sorted({str(s["attributes"]["a2a.task.id"]) for s in spans
                            if s["attributes"].get("a2a.task.id")})
            if task is not None and task not in tasks:
                continue
            ids = {s["spanId"] for s in spans}
            roots = [s for s in spans if s["parentId"] not in ids]
            start = min(s["start"] for s in spans)
            end = max(s["end"] for s in spans)
            out.append({"traceId": trace_id, "root": (roots or spans)[0]["name"],
                        "services": sorted({s["service"] for s in spans}),
                        "spans": len(spans), "tasks": tasks, "start": start / 1e9,
                        "durationMs": (end - start) / 1e6,
                        "errors": sum(1 for s in spans if s["error"])})
            if len(out) >= limit:
                break
        return out

    def get(self, trace_id: str) -> list[dict[str, Any]] | None:
        spans = self.traces.get(trace_id)
        return sorted(spans, key=lambda s: s["start"]) if spans is not None else None
