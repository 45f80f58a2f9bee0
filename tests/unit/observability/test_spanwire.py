"""Spans across the pipe to the export process: the official encoder sees no difference.

Spans are made by the SDK's own tracer (small limits, so dropped counts occur),
carried through :func:`dump_batch`, a pickle frame and :func:`load_batch`, and
both sides are encoded with the official OTLP encoder: the bytes must be equal.
"""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from a2a_mqtt.observability.spanwire import HEADER, dump_batch, frame, load_batch, unframe_header


class Ended(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def _provider(resource: dict[str, Any]) -> tuple[TracerProvider, Ended]:
    provider = TracerProvider(
        resource=Resource.create(resource),
        span_limits=SpanLimits(max_span_attributes=4, max_events=2, max_links=2,
                               max_event_attributes=2, max_link_attributes=2))
    ended = Ended()
    provider.add_span_processor(ended)
    return provider, ended


def _through_the_pipe(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    data = frame(dump_batch(spans))
    size = unframe_header(data[:HEADER.size])
    assert size == len(data) - HEADER.size
    return load_batch(pickle.loads(data[HEADER.size:]))


def _otlp(spans: list[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString(deterministic=True)


keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
scalars = st.one_of(st.text(max_size=12), st.booleans(), st.integers(-2**63, 2**63 - 1),
                    st.floats(allow_nan=False))
values = st.one_of(scalars, st.lists(st.text(max_size=5), max_size=3).map(tuple),
                   st.lists(st.integers(0, 9), max_size=3).map(tuple))
attributes = st.dictionaries(keys, values, max_size=6)
ids = st.integers(1, 2**64 - 1)


@st.composite
def span_specs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(st.text(max_size=20)),
        "kind": draw(st.sampled_from(list(SpanKind))),
        "attributes": draw(attributes),
        "events": draw(st.lists(st.tuples(st.text(max_size=8), attributes), max_size=3)),
        "links": draw(st.lists(st.tuples(ids, ids, attributes), max_size=3)),
        "status": draw(st.sampled_from([None, StatusCode.OK, StatusCode.ERROR])),
        "description": draw(st.text(max_size=10)),
        "remote_parent": draw(st.one_of(st.none(), st.tuples(st.integers(1, 2**128 - 1), ids))),
        "exception": draw(st.booleans()),
    }


def _make(provider: TracerProvider, spec: dict[str, Any]) -> None:
    from opentelemetry.trace import NonRecordingSpan, set_span_in_context

    tracer = provider.get_tracer("spanwire-test", "1.2", schema_url="https://example.org/s")
    context = None
    if spec["remote_parent"] is not None:
        trace_id, span_id = spec["remote_parent"]
        parent = SpanContext(trace_id, span_id, True, TraceFlags(1), TraceState([("k", "v")]))
        context = set_span_in_context(NonRecordingSpan(parent))
    links = [Link(SpanContext(t, s, False, TraceFlags(1)), a) for t, s, a in spec["links"]]
    span = tracer.start_span(spec["name"], context=context, kind=spec["kind"],
                             attributes=spec["attributes"], links=links)
    for name, attrs in spec["events"]:
        span.add_event(name, attrs)
    if spec["exception"]:
        span.record_exception(ValueError("boom"))
    if spec["status"] is not None:
        span.set_status(spec["status"], spec["description"]
                        if spec["status"] is StatusCode.ERROR else None)
    with tracer.start_as_current_span("child", context=set_span_in_context(span)):
        pass
    span.end()


@settings(max_examples=60, deadline=None)
@given(specs=st.lists(span_specs(), min_size=1, max_size=4),
       resource=st.dictionaries(keys, scalars, max_size=3))
def test_the_encoder_sees_the_same_spans(specs: list[dict[str, Any]],
                                        resource: dict[str, Any]) -> None:
    provider, ended = _provider(resource)
    for spec in specs:
        _make(provider, spec)
    carried = _through_the_pipe(ended.ended)
    assert _otlp(carried) == _otlp(ended.ended)


def test_dropped_counts_cross_the_pipe() -> None:
    provider, ended = _provider({"service.name": "t"})
    span = provider.get_tracer("t").start_span(
        "s", attributes={f"a{i}": i for i in range(7)})
    for i in range(5):
        span.add_event(f"e{i}", {f"x{j}": j for j in range(4)})
    span.end()
    (original,) = ended.ended
    (carried,) = _through_the_pipe(ended.ended)
    assert (original.dropped_attributes, original.dropped_events) == (3, 3)
    assert (carried.dropped_attributes, carried.dropped_events) == (3, 3)
    assert [e.dropped_attributes for e in carried.events] == [2, 2]


def test_a_batch_names_its_resource_and_scope_once() -> None:
    provider, ended = _provider({"service.name": "t"})
    for _ in range(50):
        provider.get_tracer("t").start_span("s").end()
    resources, scopes, rows = dump_batch(ended.ended)
    assert (len(resources), len(scopes), len(rows)) == (1, 1, 50)


HOSTILE = {
    "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
    "huge": "x" * 1_000_000, "topic": "$a2a/v1/request/o/u/+/#/\u0000/\U0001f600",
    "ints": (2**63 - 1, -(2**63)), "empty": "", "mixed": ("a", "", "\u202e"),
}


def test_hostile_values_cross_the_pipe_unchanged() -> None:
    # Default limits: a 1 MB value and 8 attributes are kept whole.
    provider = TracerProvider(resource=Resource.create({"service.name": "t"}))
    ended = Ended()
    provider.add_span_processor(ended)
    span = provider.get_tracer("t").start_span("a2a/\u0000odd name\U0001f600",
                                               attributes=HOSTILE)
    span.add_event("e", {"nan": float("nan")})
    span.end()
    assert _otlp(_through_the_pipe(ended.ended)) == _otlp(ended.ended)


def test_a_lone_surrogate_meets_the_same_encoder_on_both_sides() -> None:
    # The binding refuses lone surrogates on the wire, but an executor may put one in
    # an attribute or a span name. The official encoder drops such an attribute (and
    # logs it) and refuses a batch with such a name: the same with or without the pipe
    # (the export process then reports the batch failed and carries on).
    provider, ended = _provider({"service.name": "t"})
    provider.get_tracer("t").start_span("s", attributes={"a": "\udcff", "b": 1}).end()
    assert _otlp(_through_the_pipe(ended.ended)) == _otlp(ended.ended)

    provider, ended = _provider({"service.name": "t"})
    provider.get_tracer("t").start_span("\ud800").end()
    carried = _through_the_pipe(ended.ended)
    failures = []
    for spans in (ended.ended, carried):
        try:
            _otlp(spans)
        except UnicodeEncodeError as exc:
            failures.append(exc.reason)
    assert failures == ["surrogates not allowed"] * 2


def test_a_parent_of_another_trace_crosses_the_pipe() -> None:
    # The SDK always gives a child its parent's trace id, and the row then leaves the
    # parent's out; a span built otherwise keeps its parent's own.
    resource = Resource.create({"service.name": "t"})
    state = TraceState([("k", "v")])
    for parent_trace in (7, 8):
        span = ReadableSpan(
            name="s", context=SpanContext(7, 1, False, TraceFlags(1), state),
            parent=SpanContext(parent_trace, 2, True, TraceFlags(1), state),
            resource=resource, start_time=1, end_time=2)
        (carried,) = _through_the_pipe([span])
        assert carried.parent is not None
        assert (carried.parent.trace_id, carried.parent.span_id, carried.parent.is_remote,
                dict(carried.parent.trace_state)) == (parent_trace, 2, True, {"k": "v"})
        assert _otlp([carried]) == _otlp([span])
