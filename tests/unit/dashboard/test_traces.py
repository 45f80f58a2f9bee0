"""TraceStore: OTLP/HTTP bodies in, call trees out; hostile bodies get a clear error."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from a2a_mqtt.dashboard.compose import ComposeError
from a2a_mqtt.dashboard.traces import TraceStore

TRACE = bytes(range(16))


def body(*spans: Span, service: str = "o/u/a") -> bytes:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    rs.resource.attributes.append(KeyValue(key="service.name",
                                           value=AnyValue(string_value=service)))
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


def span(sid: int, parent: int | None, name: str, start: int, end: int, **attrs: str) -> Span:
    return Span(trace_id=TRACE, span_id=sid.to_bytes(8, "big"),
                parent_span_id=parent.to_bytes(8, "big") if parent else b"", name=name,
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start,
                end_time_unix_nano=end,
                attributes=[KeyValue(key=k.replace("_", "."), value=AnyValue(string_value=v))
                            for k, v in attrs.items()])


def test_a_trace_by_its_task_with_root_and_timing() -> None:
    store = TraceStore()
    assert store.add(body(span(1, None, "a2a/SendMessage", 1_000_000, 5_000_000))) == 1
    assert store.add(gzip.compress(body(span(2, 1, "a2a/execute", 2_000_000, 3_000_000,
                                             a2a_task_id="t-1"))), "gzip") == 1
    [summary] = store.summaries(task="t-1")
    assert summary["root"] == "a2a/SendMessage" and summary["spans"] == 2
    assert summary["durationMs"] == pytest.approx(4.0)
    assert store.summaries(task="other") == []
    spans = store.get(TRACE.hex())
    assert spans is not None and [s["name"] for s in spans] == ["a2a/SendMessage", "a2a/execute"]


def test_the_store_is_bounded_oldest_trace_first() -> None:
    store = TraceStore(max_spans=3)
    for i in range(5):
        s = span(1, None, "x", 0, 1)
        s.trace_id = i.to_bytes(16, "big")
        store.add(body(s))
    assert store.spans == 3 and len(store.traces) == 3
    assert store.get((0).to_bytes(16, "big").hex()) is None


def test_bad_bodies_are_refused_clearly() -> None:
    with pytest.raises(ComposeError, match="not valid gzip"):
        TraceStore().add(b"not gzip", "gzip")
    with pytest.raises(ComposeError, match="Content-Encoding"):
        TraceStore().add(b"", "br")


@given(st.binary(max_size=300))
def test_any_body_is_stored_or_refused(data: bytes) -> None:
    store = TraceStore()
    try:
        store.add(data)
    except ComposeError as exc:
        message = str(exc)
    else:
        return
    assert "ExportTraceServiceRequest" in message
