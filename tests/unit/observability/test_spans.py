"""Our lean spans: sampled exactly as the SDK's sampler, API-complete, queued once at end."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
    get_current_span,
    set_span_in_context,
)

from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.otlp_encode import encode_spans
from a2a_mqtt.observability.spans import LeanSpan, LeanTracer


class Queue:
    def __init__(self) -> None:
        self.ended: list[Any] = []

    def on_end(self, span: Any) -> None:
        self.ended.append(span)


def lean(ratio: float = 1.0) -> tuple[LeanTracer, Queue]:
    q = Queue()
    return LeanTracer(ratio=ratio, resource=Resource.create({"service.name": "t"}),
                      scope=InstrumentationScope("a2a_mqtt", "0"), queue=q), q


@settings(max_examples=60, deadline=None)
@given(ratio=st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.99, 1.0]))
def test_roots_are_sampled_as_the_sdk_samples_them(ratio: float) -> None:
    tracer, q = lean(ratio)
    sdk = ParentBased(TraceIdRatioBased(ratio))
    for _ in range(200):
        span = tracer.start("a2a/x", SpanKind.CLIENT, None, None)
        sc = span.get_span_context()
        expected = sdk.should_sample(None, sc.trace_id, "a2a/x").decision.is_sampled()
        assert sc.trace_flags.sampled is expected
        assert isinstance(span, LeanSpan) is expected
        assert sc.trace_flags.random_trace_id and sc.is_valid and not sc.is_remote
        span.end()
    assert len(q.ended) == sum(1 for s in q.ended if isinstance(s, LeanSpan))


@given(sampled=st.booleans(), state=st.sampled_from([[], [("k", "v")]]))
def test_children_follow_their_parent(sampled: bool, state: list[tuple[str, str]]) -> None:
    tracer, q = lean(0.0)  # the ratio only decides for roots
    parent = SpanContext(trace_id=7, span_id=9, is_remote=True,
                         trace_flags=TraceFlags(1 if sampled else 0), trace_state=TraceState(state))
    span = tracer.start("a2a/x", SpanKind.SERVER, {"a": 1}, parent)
    sc = span.get_span_context()
    assert (sc.trace_id, sc.trace_flags.sampled, list(sc.trace_state.items())) == (7, sampled,
                                                                                  state)
    assert sc.span_id != 9
    assert isinstance(span, LeanSpan) is sampled
    span.end()
    if sampled:
        assert q.ended == [span]
        assert span.parent is parent
    else:
        assert isinstance(span, NonRecordingSpan) and q.ended == []


def test_a_span_records_until_its_end_then_is_queued_once_and_frozen() -> None:
    tracer, q = lean()
    span = tracer.start("a2a/request", SpanKind.SERVER, {"rpc.system": "a2a"}, None)
    assert isinstance(span, LeanSpan) and span.is_recording()
    span.update_name("a2a/SendMessage")
    span.set_attribute("rpc.method", "SendMessage")
    span.set_attributes({"n": 2})
    span.add_event("hello", {"k": "v"})
    span.add_link(SpanContext(trace_id=1, span_id=2, is_remote=False))
    span.record_exception(ValueError("bad"))
    span.set_status(StatusCode.ERROR, "failed")
    span.end()
    span.end()
    span.set_attribute("late", True)
    span.update_name("late")
    assert q.ended == [span] and not span.is_recording()
    assert span.name == "a2a/SendMessage"
    assert span.attributes == {"rpc.system": "a2a", "rpc.method": "SendMessage", "n": 2}
    assert [e.name for e in span.events] == ["hello", "exception"]
    assert span.events[1].attributes is not None
    assert span.events[1].attributes["exception.type"] == "ValueError"
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "failed")
    request = ExportTraceServiceRequest.FromString(encode_spans([span]))
    (out,) = request.resource_spans[0].scope_spans[0].spans
    assert (out.name, out.kind, len(out.events), len(out.links), out.status.code) == (
        "a2a/SendMessage", 2, 2, 1, 2)
    assert out.end_time_unix_nano >= out.start_time_unix_nano > 0


def test_span_blocks_nest_make_current_and_record_what_escapes() -> None:
    tracer, q = lean()
    seen: list[Any] = []

    def nest() -> None:
        with tracing.span("outer", kind=SpanKind.SERVER) as outer:
            assert get_current_span() is outer
            with tracing.span("inner", kind=SpanKind.INTERNAL, current=False) as inner:
                assert get_current_span() is outer
            seen.extend([inner, outer])
            raise KeyError("x")

    saved = tracing.use_tracer(tracer)
    try:
        with pytest.raises(KeyError):
            nest()
    finally:
        tracing.use_tracer(saved)
    inner, outer = seen
    assert q.ended == [inner, outer]
    assert isinstance(inner, LeanSpan) and isinstance(outer, LeanSpan)
    assert inner.parent == outer.get_span_context()
    assert outer.status.status_code is StatusCode.ERROR
    assert [e.name for e in outer.events] == ["exception"]


def test_under_a_parent_not_sampled_no_span_is_made_and_its_context_carries_on() -> None:
    tracer, q = lean()
    remote = NonRecordingSpan(SpanContext(trace_id=5, span_id=6, is_remote=True,
                                          trace_flags=TraceFlags(0)))
    saved = tracing.use_tracer(tracer)
    try:
        with tracing.server_span([("traceparent", f"00-{5:032x}-{6:016x}-00")], "t") as s:
            assert s is not None and not s.is_recording()
            assert get_current_span().get_span_context().span_id == 6
            with tracing.span("a2a/execute", kind=SpanKind.INTERNAL) as e, \
                    tracing.client_span("SendMessage", "t2", "a") as c:
                assert e is not None and c is not None
                assert c.get_span_context().span_id == 6
        with tracing.span("x", kind=SpanKind.INTERNAL,
                          parent=set_span_in_context(remote)) as x:
            assert x is remote
    finally:
        tracing.use_tracer(saved)
    assert q.ended == []
