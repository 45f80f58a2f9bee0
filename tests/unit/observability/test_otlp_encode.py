"""Our OTLP bytes parse to exactly the message the exporter package's encoder builds."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as reference
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from a2a_mqtt.observability.otlp_encode import encode_spans


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _provider(service: str) -> tuple[TracerProvider, _Keep]:
    keep = _Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "n": 3}))
    provider.add_span_processor(SimpleSpanProcessor(keep))
    return provider, keep


def _same(spans: Sequence[ReadableSpan]) -> None:
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert ours == reference(spans)


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_scalar = st.one_of(_text, st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False), st.binary(max_size=8))
_value = st.one_of(_scalar, st.lists(st.integers(-5, 5), max_size=3),
                   st.lists(_text, max_size=3))
_attrs = st.dictionaries(st.text(min_size=1, max_size=12), _value, max_size=5)
_ctx = st.builds(lambda t, s, remote, state: SpanContext(
    trace_id=t, span_id=s, is_remote=remote, trace_flags=TraceFlags(1),
    trace_state=TraceState(state)),
    st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.booleans(),
    st.lists(st.tuples(st.sampled_from(["a", "k", "z9"]), st.sampled_from(["1", "v"])),
             max_size=2, unique_by=lambda kv: kv[0]))


@settings(max_examples=150, deadline=None)
@given(name=_text, kind=st.sampled_from(list(SpanKind)), attrs=_attrs,
       parent=st.one_of(st.none(), _ctx), events=st.lists(st.tuples(_text, _attrs), max_size=2),
       links=st.lists(st.tuples(_ctx, _attrs), max_size=2),
       status=st.sampled_from([None, (StatusCode.OK, None), (StatusCode.ERROR, "boom"),
                               (StatusCode.ERROR, None)]),
       scope=st.sampled_from([("a2a_mqtt", "1.2"), ("other", None)]))
def test_any_span_encodes_as_the_reference_does(
        name: str, kind: SpanKind, attrs: dict[str, object], parent: SpanContext | None,
        events: list[tuple[str, dict[str, object]]],
        links: list[tuple[SpanContext, dict[str, object]]],
        status: tuple[StatusCode, str | None] | None, scope: tuple[str, str | None]) -> None:
    provider, keep = _provider("svc")
    tracer = provider.get_tracer(scope[0], scope[1])
    context = None if parent is None else set_span_in_context(NonRecordingSpan(parent))
    span = tracer.start_span(name, context=context, kind=kind, attributes=attrs,  # type: ignore[arg-type]
                             links=[Link(c, a) for c, a in links])  # type: ignore[arg-type]
    for event_name, event_attrs in events:
        span.add_event(event_name, event_attrs)  # type: ignore[arg-type]
    if status is not None:
        span.set_status(Status(*status))
    span.end()
    _same(keep.spans)


def test_spans_group_by_resource_then_scope_and_repeat_from_the_caches() -> None:
    one, keep_one = _provider("one")
    two, keep_two = _provider("two")
    for provider in (one, two, one):
        for scope in ("a", "b", "a"):
            with provider.get_tracer(scope).start_as_current_span(
                    "a2a/SendMessage", kind=SpanKind.SERVER,
                    attributes={"rpc.system": "a2a", "flag": True, "n": 1}):
                with provider.get_tracer(scope).start_as_current_span("a2a/execute"):
                    pass
    spans = keep_one.spans + keep_two.spans + keep_one.spans
    _same(spans)
    _same(spans)  # now every attribute, name, resource and scope comes from a cache
    request = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert len(request.resource_spans) == 2
    assert [len(rs.scope_spans) for rs in request.resource_spans] == [2, 2]


def test_true_and_one_are_different_attributes_despite_equal_hashes() -> None:
    provider, keep = _provider("svc")
    tracer = provider.get_tracer("t")
    tracer.start_span("a", attributes={"x": 1}).end()
    tracer.start_span("b", attributes={"x": True}).end()
    tracer.start_span("c", attributes={"x": 1.0}).end()
    _same(keep.spans)
