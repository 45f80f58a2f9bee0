"""The lean span against the SDK's span: the same calls give the same OTLP bytes.

Each case is played twice, on the SDK's tracer and on :class:`LeanTracer`, with the
same sampler, the same ids (a scripted ``IdGenerator``), the same limits and explicit
times. The SDK's span ends into a processor as it would in-process; the lean span's
row crosses a pickle and is rebuilt by :func:`load_lean_span` as the export process
does. The official encoder must produce the same bytes from both.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.leanspan import LeanSpan, LeanTracer
from a2a_mqtt.observability.spanwire import load_lean_span
from tests.unit.observability.ended import Ended


class Scripted(IdGenerator):
    """Ids from a list, so that both tracers draw the same ones."""

    def __init__(self, trace_ids: list[int], span_ids: Iterator[int] | None = None) -> None:
        self._traces = iter(trace_ids)
        self._spans = span_ids if span_ids is not None else iter(range(1, 1 << 20))

    def generate_trace_id(self) -> int:
        return next(self._traces)

    def generate_span_id(self) -> int:
        return next(self._spans)


class Pair:
    """An SDK tracer and a lean tracer with the same sampler, ids and limits."""

    def __init__(self, limits: SpanLimits, sampler: Sampler | None = None,
                 trace_ids: list[int] | None = None, lean_span_ids: int = 1) -> None:
        sampler = sampler or ParentBased(ALWAYS_ON)
        ids = trace_ids or list(range(1000, 2000))
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "lean-test"}), sampler=sampler,
            id_generator=Scripted(ids), span_limits=limits, shutdown_on_exit=False)
        self.ended = Ended()
        self.provider.add_span_processor(self.ended)
        self.sdk = self.provider.get_tracer("a2a_mqtt", "1.2")
        self.rows: list[tuple[Any, ...]] = []
        self.lean = LeanTracer(sampler=sampler, limits=limits, id_generator=Scripted(
                                   ids, iter(range(lean_span_ids, lean_span_ids + (1 << 20)))),
                               sink=self.rows.append)
        self.limits = limits

    def rebuilt(self, limits: SpanLimits | None = None) -> list[ReadableSpan]:
        """The lean rows through a pickle and the export process's rebuild."""
        rows = pickle.loads(pickle.dumps(self.rows, protocol=pickle.HIGHEST_PROTOCOL))
        scope = self.ended.ended[0].instrumentation_scope if self.ended.ended else None
        return [load_lean_span(row, [self.provider.resource], [scope],
                               limits or self.limits) for row in rows]


def otlp(spans: list[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString(deterministic=True)


class Opaque:
    """A value with no str() of its own: the SDK's cleaning makes it None."""


class Named:
    def __str__(self) -> str:
        return "named"


keys = st.one_of(st.sampled_from(["a", "b", "c", "rpc.method", ""]),
                 st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                         min_size=1, max_size=6))
plain = st.one_of(st.text(max_size=12), st.booleans(), st.integers(-2**63, 2**63 - 1),
                  st.floats(allow_nan=False))
values = st.one_of(plain, st.lists(st.text(max_size=5), max_size=3),
                   st.lists(st.integers(0, 9), max_size=3).map(tuple),
                   st.sampled_from([None, Decimal("1.5"), Named(), Opaque(), b"xy"]))
attributes = st.dictionaries(keys, values, max_size=6)
ids = st.integers(1, 2**64 - 1)
writes = st.lists(st.one_of(
    st.tuples(st.just("set"), keys, values),
    st.tuples(st.just("many"), attributes),
    st.tuples(st.just("name"), st.text(max_size=8)),
    st.tuples(st.just("event"), st.text(max_size=8), attributes),
    st.tuples(st.just("link"), ids, ids, attributes),
    st.tuples(st.just("exception"), st.booleans()),
    st.tuples(st.just("status"), st.sampled_from(list(StatusCode)), st.text(max_size=6),
              st.booleans()),
), max_size=8)


@st.composite
def span_specs(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(st.text(max_size=20)),
        "kind": draw(st.sampled_from(list(SpanKind))),
        "attributes": draw(attributes),
        "links": draw(st.lists(st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 5),
                                         attributes), max_size=3)),
        "writes": draw(writes),
        "parent": draw(st.one_of(
            st.none(), st.tuples(st.integers(1, 2**128 - 1), ids, st.booleans(),
                                 st.sampled_from([0x01, 0x03]),
                                 st.sampled_from([[], [("k", "v")], [("a", "1"), ("b", "2")]])))),
    }


def _raised() -> ValueError:
    try:
        raise ValueError("boom")  # noqa: TRY301 - an exception with a traceback
    except ValueError as exc:
        return exc


BOOM = _raised()


def play(tracer: trace.Tracer, spec: dict[str, Any], clock: Iterator[int]) -> None:
    context = None
    if spec["parent"] is not None:
        trace_id, span_id, remote, flags, state = spec["parent"]
        parent = SpanContext(trace_id, span_id, remote, TraceFlags(flags), TraceState(state))
        context = set_span_in_context(NonRecordingSpan(parent))
    links = [Link(SpanContext(t, s, False, TraceFlags(1)), a) for t, s, a in spec["links"]]
    span = tracer.start_span(spec["name"], context=context, kind=spec["kind"],
                             attributes=spec["attributes"], links=links,
                             start_time=next(clock))
    for write in spec["writes"]:
        op = write[0]
        if op == "set":
            span.set_attribute(write[1], write[2])
        elif op == "many":
            span.set_attributes(write[1])
        elif op == "name":
            span.update_name(write[1])
        elif op == "event":
            span.add_event(write[1], write[2], timestamp=next(clock))
        elif op == "link":
            span.add_link(SpanContext(write[1], write[2], False, TraceFlags(1)), write[3])
        elif op == "exception":
            span.record_exception(BOOM, {"extra": 1}, timestamp=next(clock),
                                  escaped=write[1])
        else:
            _, code, description, as_object = write
            if as_object:
                span.set_status(Status(code, description))
            else:
                span.set_status(code, description)
    span.end(end_time=next(clock))
    span.set_attribute("after", "end")  # ignored by both: the span has ended
    span.end()  # idempotent


LIMITS = SpanLimits(max_span_attributes=4, max_events=2, max_links=2, max_event_attributes=2,
                    max_link_attributes=2, max_span_attribute_length=5,
                    max_attribute_length=7)
COUNT_ONLY = SpanLimits(max_span_attributes=3)  # no length limit: the rebuild's short cut


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(span_specs(), min_size=1, max_size=3),
       limits=st.sampled_from([LIMITS, COUNT_ONLY, None]))
def test_the_encoder_sees_the_sdks_span(specs: list[dict[str, Any]],
                                        limits: SpanLimits | None) -> None:
    pair = Pair(limits or SpanLimits())
    for tracer in (pair.sdk, pair.lean):
        clock = iter(range(10**9, 10**10, 1000))
        for spec in specs:
            play(tracer, spec, clock)
    assert len(pair.rows) == len(pair.ended.ended)
    rebuilt = pair.rebuilt()
    assert otlp(rebuilt) == otlp(pair.ended.ended)
    for lean, sdk in zip(rebuilt, pair.ended.ended, strict=True):
        assert (lean.dropped_attributes, lean.dropped_events, lean.dropped_links) == (
            sdk.dropped_attributes, sdk.dropped_events, sdk.dropped_links)


def test_default_times_are_taken_when_the_calls_happen() -> None:
    import time

    pair = Pair(SpanLimits())
    before = time.time_ns()
    span = pair.lean.start_span("s")
    span.add_event("e")
    span.end()
    after = time.time_ns()
    (rebuilt,) = pair.rebuilt()
    assert rebuilt.start_time is not None and rebuilt.end_time is not None
    assert before <= rebuilt.start_time <= rebuilt.events[0].timestamp <= rebuilt.end_time
    assert rebuilt.end_time <= after


@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_sampling_decisions_are_the_sdk_samplers(ratio: float) -> None:
    import random

    rng = random.Random(ratio)
    trace_ids = [rng.getrandbits(128) or 1 for _ in range(400)]
    sampler = ParentBased(TraceIdRatioBased(ratio))
    pair = Pair(SpanLimits(), sampler, trace_ids)
    decisions = []
    for tracer in (pair.sdk, pair.lean):
        made = [tracer.start_span("root") for _ in trace_ids]
        decisions.append([(s.is_recording(), s.get_span_context()) for s in made])
        for s in made:
            s.end()
    assert decisions[0] == decisions[1]
    sampled = sum(recording for recording, _ in decisions[1])
    assert sampled == {0.0: 0, 1.0: 400}.get(ratio, sampled)
    assert ratio != 0.5 or 150 < sampled < 250
    assert len(pair.rows) == len(pair.ended.ended) == sampled
    # Under a parent: its decision, whatever the ratio.
    for flags in (0, 1):
        parent = set_span_in_context(NonRecordingSpan(
            SpanContext(77, 78, True, TraceFlags(flags))))
        lean = pair.lean.start_span("child", context=parent)
        sdk = pair.sdk.start_span("child", context=parent)
        assert lean.is_recording() == sdk.is_recording() == bool(flags)
        assert lean.get_span_context().trace_flags == sdk.get_span_context().trace_flags
        assert isinstance(lean, LeanSpan) == bool(flags)


def test_under_a_parent_not_sampled_the_blocks_make_no_span() -> None:
    pair = Pair(SpanLimits())
    saved = tracing.use_tracer(pair.lean)
    try:
        with tracing.server_span([("traceparent", f"00-{5:032x}-{6:016x}-00")], "t") as s:
            assert s is not None and not s.is_recording()
            with tracing.client_span("SendMessage", "t2") as c:
                assert c is not None and c.get_span_context().span_id == 6
    finally:
        tracing.use_tracer(saved)
    assert pair.rows == []


def test_attribute_count_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    pair = Pair(SpanLimits())
    for tracer in (pair.sdk, pair.lean):
        span = tracer.start_span("s", attributes={f"a{i}": "long value" for i in range(6)},
                                 start_time=1)
        span.set_attribute("a1", "again")  # evicted before: one more drop
        span.set_attribute("a5", 5)  # still there: moved to the end, nothing dropped
        span.set_attributes({"b": 1, "": 2})  # an empty key is dropped and counted
        span.end(end_time=2)
    (sdk,) = pair.ended.ended
    # The export process reads the limits from its environment (the service's).
    (lean,) = pair.rebuilt(SpanLimits())
    assert dict(sdk.attributes or {}) == {"a1": "agai", "a5": 5, "b": 1}
    assert dict(lean.attributes or {}) == dict(sdk.attributes or {})
    assert lean.dropped_attributes == sdk.dropped_attributes == 6
    assert otlp([lean]) == otlp([sdk])


def test_an_sdk_span_under_a_lean_span_and_the_reverse() -> None:
    pair = Pair(SpanLimits(), lean_span_ids=1 << 40)  # no span id shared by the two
    with pair.lean.start_as_current_span("lean-outer") as outer:
        assert trace.get_current_span() is outer
        with pair.sdk.start_as_current_span("sdk-inner") as inner:
            assert inner.is_recording()
            with pair.lean.start_as_current_span("lean-innermost"):
                pass
    with pair.sdk.start_as_current_span("sdk-outer") as sdk_outer:
        saved = tracing.use_tracer(pair.lean)
        try:
            with tracing.span("lean-block", kind=SpanKind.INTERNAL) as block:
                assert block is not None
        finally:
            tracing.use_tracer(saved)
    by_name = {s.name: s for s in [*pair.ended.ended, *pair.rebuilt()]}

    def ctx(name: str) -> SpanContext:
        context = by_name[name].context
        assert context is not None
        return context

    assert by_name["sdk-inner"].parent == ctx("lean-outer")
    assert by_name["lean-innermost"].parent == ctx("sdk-inner")
    assert by_name["lean-block"].parent == ctx("sdk-outer")
    assert sdk_outer.get_span_context() == ctx("sdk-outer")
    assert len({ctx(n).trace_id for n in ("lean-outer", "sdk-inner", "lean-innermost")}) == 1
    assert by_name["lean-outer"].parent is None


def test_an_escaping_exception_is_recorded_as_the_sdk_records_it() -> None:
    pair = Pair(SpanLimits())
    for tracer in (pair.sdk, pair.lean):
        with pytest.raises(KeyError), tracer.start_as_current_span("current"):
            raise KeyError("x")
        with pytest.raises(KeyError), tracer.start_span("with"):  # the span's __exit__
            raise KeyError("y")
        with pytest.raises(KeyError), tracer.start_span(
                "quiet", record_exception=False, set_status_on_exception=False):
            raise KeyError("z")
    sdk_spans, lean_spans = pair.ended.ended, pair.rebuilt()
    assert [s.name for s in lean_spans] == [s.name for s in sdk_spans]
    for lean, sdk in zip(lean_spans, sdk_spans, strict=True):
        assert lean.status.status_code is sdk.status.status_code
        assert lean.status.description == sdk.status.description
        assert [e.name for e in lean.events] == [e.name for e in sdk.events]
        for le, se in zip(lean.events, sdk.events, strict=True):
            ours, theirs = dict(le.attributes or {}), dict(se.attributes or {})
            assert ours.pop("exception.stacktrace").startswith("Traceback")
            theirs.pop("exception.stacktrace")
            assert ours == theirs
    assert [s.status.status_code for s in lean_spans] == [
        StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]


def test_configure_tracing_gives_our_spans_the_lean_tracer_unless_inline() -> None:
    from opentelemetry.sdk.trace import Tracer as SdkTracer

    for export_process, expected in ((True, LeanTracer), (False, SdkTracer)):
        handle = tracing.configure_tracing(tracing.TracingConfig(
            endpoint="http://127.0.0.1:9/v1/traces", export_process=export_process))
        assert handle is not None
        try:
            assert isinstance(tracing.tracer(), expected)
            if export_process:
                assert handle.processor is not None and handle.processor.pid is not None
        finally:
            handle.shutdown()
    assert tracing.tracer() is None


contexts = st.one_of(
    st.just(None),  # a new trace
    st.builds(lambda t, s, remote, flags, state: SpanContext(
        t, s, remote, TraceFlags(flags), TraceState(state) if state else None),
        st.integers(1, 2**128 - 1), ids, st.booleans(), st.integers(0, 3),
        st.lists(st.tuples(st.sampled_from(["a", "b", "vendor"]), st.sampled_from(["1", "x"])),
                 max_size=2, unique_by=lambda kv: kv[0])))


@settings(max_examples=200, deadline=None)
@given(parent=contexts, ratio=st.sampled_from([1.0, 0.5, 0.25, 0.01, 0.0]),
       kind=st.sampled_from(list(SpanKind)), attrs=st.one_of(st.none(), attributes),
       first_id=st.integers(1, 2**128 - 1))
# A new trace's id at a ratio root's bound and either side of it (0.5: 2**63).
@example(parent=None, ratio=0.5, kind=SpanKind.CLIENT, attrs=None, first_id=1 << 63)
@example(parent=None, ratio=0.5, kind=SpanKind.CLIENT, attrs=None, first_id=(1 << 63) - 1)
@example(parent=None, ratio=0.5, kind=SpanKind.CLIENT, attrs={"a": 1},
         first_id=(5 << 64) + 7)  # only the low 64 bits count
def test_start_below_makes_the_span_the_sdk_sampler_decides(
        parent: SpanContext | None, ratio: float, kind: SpanKind,
        attrs: dict[str, Any] | None, first_id: int) -> None:
    """Where ``start_below`` does not ask the sampler (a sampled parent's child, a new
    trace at 100 %, a new trace under a ratio root), its span is the one asking would
    have made: the same ids, flags, trace state, parent, attributes and row."""
    root = ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio)
    trace_ids = [first_id, *range(10**30, 10**30 + 4)]
    spans, rows = [], []
    for fast in (False, True):
        pair = Pair(SpanLimits(), ParentBased(root), trace_ids)
        tracer = LeanTracer(sampler=ParentBased(root), limits=SpanLimits(),
                            id_generator=Scripted(trace_ids), sink=pair.rows.append,
                            parent_decides=fast, roots_sampled=fast and root is ALWAYS_ON,
                            root_ratio=root if fast and isinstance(root, TraceIdRatioBased)
                            else None)
        context = (set_span_in_context(NonRecordingSpan(parent)) if parent is not None
                   else None)
        span = (tracer.start_below("s", kind, attrs, parent or trace.INVALID_SPAN_CONTEXT)
                if fast else tracer.start_span("s", context, kind, attrs))
        spans.append(span)
        span.end(end_time=2)
        rows.append([row[:15] + row[16:] for row in pair.rows])  # all but the start time
    slow, quick = spans
    assert quick.get_span_context() == slow.get_span_context()
    assert quick.get_span_context().trace_state == slow.get_span_context().trace_state
    assert quick.is_recording() == slow.is_recording()
    assert type(quick) is type(slow)
    assert rows[0] == rows[1]
    expect_sampled = parent.trace_flags.sampled if parent is not None and parent.is_valid \
        else ratio >= 1.0 or None
    if expect_sampled is not None:
        assert quick.get_span_context().trace_flags.sampled == expect_sampled


def assert_same_children(children: list[trace.Span], rows: list[list[tuple[Any, ...]]]
                         ) -> None:
    """The same span, however its parent was given: context, state, type and rows
    (the rows without their start times, which the clock gives)."""
    first = children[0]
    for other in children[1:]:
        assert first.get_span_context() == other.get_span_context()
        assert first.get_span_context().trace_state == other.get_span_context().trace_state
        assert type(first) is type(other)
    assert all(r == rows[0] for r in rows[1:])


@settings(max_examples=150, deadline=None)
@given(above=contexts, ratio=st.sampled_from([1.0, 0.5, 0.0]),
       kind=st.sampled_from(list(SpanKind)), attrs=st.one_of(st.none(), attributes))
def test_a_lean_parent_given_as_itself_makes_the_child_its_context_makes(
        above: SpanContext | None, ratio: float, kind: SpanKind,
        attrs: dict[str, Any] | None) -> None:
    """``start_below`` given one of its own spans as the parent (whose plain ids it
    reads) makes the same child, row included, as given that span's context, and as
    the SDK sampler's path (``start_span`` under the span made current)."""
    root = ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio)
    children, rows = [], []
    for how in ("itself", "context", "sampler"):
        trace_ids = list(range(10**30, 10**30 + 5))
        out: list[tuple[Any, ...]] = []
        tracer = LeanTracer(sampler=ParentBased(root), limits=SpanLimits(),
                            id_generator=Scripted(trace_ids), sink=out.append,
                            parent_decides=True, roots_sampled=root is ALWAYS_ON)
        parent = tracer.start_below("p", SpanKind.SERVER, None,
                                    above or trace.INVALID_SPAN_CONTEXT)
        if how == "itself":  # as recording_parent() gives it: a lean span as it is
            child = tracer.start_below("c", kind, attrs, parent if type(parent) is LeanSpan
                                       else parent.get_span_context())
        elif how == "context":
            child = tracer.start_below("c", kind, attrs, parent.get_span_context())
        else:
            child = tracer.start_span("c", set_span_in_context(parent), kind, attrs,
                                      record_exception=False, set_status_on_exception=False)
        child.end(end_time=2)
        children.append(child)
        rows.append([row[:15] + row[16:] for row in out])
    assert_same_children(children, rows)


def test_a_lean_span_formats_its_traceparent_as_inject_span_does() -> None:
    from a2a_mqtt.binding.tracecontext import inject_span

    state = TraceState([("k", "v")])
    tracer = LeanTracer(sampler=ParentBased(ALWAYS_ON), limits=SpanLimits(),
                        id_generator=Scripted([7 << 100]), sink=lambda row: None,
                        parent_decides=True, roots_sampled=True)
    root = tracer.start_below("r", SpanKind.CLIENT, None, trace.INVALID_SPAN_CONTEXT)
    remote = SpanContext(5 << 90, 99, True, TraceFlags(3), state)
    child = tracer.start_below("c", SpanKind.CLIENT, None, remote)
    for span in (root, child):
        assert isinstance(span, LeanSpan)
        props = span.trace_properties()
        assert props == inject_span(span)
        assert tracing.span_properties(span) == props or tracing.tracer() is None
    assert dict(child.trace_properties())["tracestate"] == "k=v"
    assert child.trace_properties()[0][1].endswith("-03")


def test_a_blocks_attributes_are_kept_as_given_and_never_changed() -> None:
    """Our blocks hand over dicts they never change (most shared per topic): the span
    keeps that dict (the hand-off's pickle then writes a shared one once per batch),
    and later writes never reach it."""
    out: list[tuple[Any, ...]] = []
    tracer = LeanTracer(sampler=ParentBased(ALWAYS_ON), limits=SpanLimits(),
                        id_generator=Scripted([3 << 70, 4 << 70]), sink=out.append,
                        parent_decides=True, roots_sampled=True)
    shared = {"rpc.system": "a2a", "messaging.destination.name": "$a2a/v1/request/o/u/a"}
    for _ in range(2):
        span = tracer.start_below("s", SpanKind.SERVER, shared, trace.INVALID_SPAN_CONTEXT)
        span.set_attribute("rpc.method", "SendMessage")
        span.set_attributes({"extra": 1})
        span.end(end_time=2)
    assert shared == {"rpc.system": "a2a", "messaging.destination.name": "$a2a/v1/request/o/u/a"}
    assert out[0][7] is shared and out[1][7] is shared
    rebuilt = [load_lean_span(row, [Resource.create({})], [None], SpanLimits())
               for row in pickle.loads(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))]
    for span in rebuilt:
        assert dict(span.attributes or {}) == {**shared, "rpc.method": "SendMessage", "extra": 1}


class _PlainDictSampler(Sampler):
    """A sampler whose result holds a plain dict (the SDK's own hold a read-only view)."""

    def should_sample(self, *args: Any, **kwargs: Any) -> Any:
        class Result:
            decision = ALWAYS_ON.should_sample(None, 1, "x").decision
            trace_state = None
            attributes = kwargs.get("attributes", args[4] if len(args) > 4 else None)
        return Result()

    def get_description(self) -> str:
        return "plain dict"


def test_start_span_keeps_a_copy_never_the_callers_dict() -> None:
    """A caller of the API may change its dict after the start: the span must not."""
    out: list[tuple[Any, ...]] = []
    for sampler in (ParentBased(ALWAYS_ON), _PlainDictSampler()):
        out.clear()
        tracer = LeanTracer(sampler=sampler, limits=SpanLimits(),
                            id_generator=Scripted([5 << 70]), sink=out.append)
        given = {"a": "1"}
        span = tracer.start_span("s", attributes=given)
        given["a"] = "changed"
        given["b"] = "added"
        span.end(end_time=10**18)
        assert out[0][7] == {"a": "1"}, sampler.get_description()


@settings(max_examples=150, deadline=None)
@given(trace_id=st.integers(1, 2**128 - 1), span_id=ids, flags=st.integers(0, 255),
       state=st.sampled_from([None, "a=1", "vendor=x,b=2"]),
       ratio=st.sampled_from([1.0, 0.5, 0.0]), kind=st.sampled_from(list(SpanKind)),
       attrs=st.one_of(st.none(), attributes))
def test_a_remote_parent_given_as_plain_values_makes_the_child_its_context_makes(
        trace_id: int, span_id: int, flags: int, state: str | None, ratio: float,
        kind: SpanKind, attrs: dict[str, Any] | None) -> None:
    """A server span starts from ``traceparent``'s plain values (``remote_ids``): the
    same child, row included, as from the remote ``SpanContext`` and as through the
    SDK sampler's path (``start_span`` under that context)."""
    from a2a_mqtt.binding.tracecontext import format_ids, parse_ids, remote_context

    remote = parse_ids(format_ids(trace_id, span_id, flags), state)
    assert remote is not None
    root = ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio)
    children, rows = [], []
    for how in ("plain", "context", "sampler"):
        out: list[tuple[Any, ...]] = []
        tracer = LeanTracer(sampler=ParentBased(root), limits=SpanLimits(),
                            id_generator=Scripted([10**30]), sink=out.append,
                            parent_decides=True, roots_sampled=root is ALWAYS_ON)
        if how == "plain":
            child = tracer.start_below("c", kind, attrs, remote)
        elif how == "context":
            child = tracer.start_below("c", kind, attrs, remote_context(remote))
        else:
            child = tracer.start_span("c", set_span_in_context(NonRecordingSpan(
                remote_context(remote))), kind, attrs, record_exception=False,
                set_status_on_exception=False)
        child.end(end_time=2)
        children.append(child)
        rows.append([row[:15] + row[16:] for row in out])
    assert_same_children(children, rows)
