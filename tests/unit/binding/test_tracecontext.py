"""W3C trace context in User Properties: valid contexts round-trip, garbage is ignored."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    TraceState,
    get_current_span,
    set_span_in_context,
)

from a2a_mqtt.binding.tracecontext import (
    TRACEPARENT,
    TRACESTATE,
    extract,
    inject,
    with_trace_context,
    without_trace_context,
)

_VALID = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _remote(props: list[tuple[str, str]]) -> SpanContext:
    return get_current_span(extract(props)).get_span_context()


def test_a_valid_traceparent_is_read_as_the_remote_parent() -> None:
    sc = _remote([("a2a-version", "1.0"), (TRACEPARENT, TP),
                  (TRACESTATE, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")])
    assert sc.is_valid and sc.is_remote
    assert sc.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert sc.span_id == 0xB7AD6B7169203331
    assert sc.trace_flags.sampled
    assert dict(sc.trace_state) == {"congo": "t61rcWkgMzE", "rojo": "00f067aa0ba902b7"}


def test_keys_fold_case_and_the_last_occurrence_wins() -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-00"
    sc = _remote([("TraceParent", TP), ("TRACEPARENT", other)])
    assert sc.trace_id == 0x11111111111111111111111111111111
    assert not sc.trace_flags.sampled


def test_the_prefixed_name_is_not_a_trace_context() -> None:
    assert not _remote([("a2a-traceparent", TP)]).is_valid


def test_invalid_traceparents_are_ignored() -> None:
    for bad in ("", "garbage", TP.upper(), "ff" + TP[2:],
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                TP + "-extra", TP[:-1], TP + "\x00"):
        assert not _remote([(TRACEPARENT, bad)]).is_valid, bad


def test_an_invalid_tracestate_is_dropped_but_the_parent_kept() -> None:
    sc = _remote([(TRACEPARENT, TP), (TRACESTATE, "not a list=,,=")])
    assert sc.is_valid
    assert len(sc.trace_state) == 0


def test_inject_writes_the_current_span_and_nothing_without_one() -> None:
    assert inject() == ()
    span = NonRecordingSpan(SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C, span_id=0xB7AD6B7169203331,
        is_remote=False, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")])))
    assert inject(set_span_in_context(span)) == ((TRACEPARENT, TP), (TRACESTATE, "k=v"))


def test_with_trace_context_replaces_earlier_trace_properties() -> None:
    ctx = extract([(TRACEPARENT, TP)])
    props = with_trace_context([("Traceparent", "x"), ("tracestate", "a=b"), ("k", "v")], ctx)
    assert props == (("k", "v"), (TRACEPARENT, TP))
    assert without_trace_context(props) == (("k", "v"),)


_names = st.sampled_from([TRACEPARENT, TRACESTATE, "TraceParent", "TRACESTATE", "a2a-x"])
_hexish = st.text(alphabet="0123456789abcdefABCDEF-xz ", max_size=70)
_values = st.one_of(st.text(max_size=80), _hexish, st.just(TP),
                    st.builds(lambda s: TP[:s] + "0" + TP[s + 1:], st.integers(0, 54)))


@given(st.lists(st.tuples(st.one_of(_names, st.text(max_size=12)), _values), max_size=8))
def test_any_property_list_extracts_without_error_and_reinjects_only_valid(
        props: list[tuple[str, str]]) -> None:
    ctx = extract(props)
    sc = get_current_span(ctx).get_span_context()
    out = inject(ctx)
    if not sc.is_valid:
        assert out == ()
        return
    # A context is taken only from a well-formed traceparent, and written back canonically.
    assert out[0][0] == TRACEPARENT
    assert _VALID.match(out[0][1])
    assert all(k in (TRACEPARENT, TRACESTATE) for k, _ in out)
    last = [v for k, v in props if k.lower() == TRACEPARENT][-1]
    assert out[0][1][3:52] == last.strip()[3:52]


@given(trace_id=st.integers(1, 2**128 - 1), span_id=st.integers(1, 2**64 - 1),
       sampled=st.booleans(),
       state=st.lists(st.tuples(st.from_regex(r"\A[a-z][a-z0-9_\-*/]{0,20}\Z"),
                                st.from_regex(r"\A[a-zA-Z0-9]{1,20}\Z")),
                      max_size=4, unique_by=lambda kv: kv[0]))
def test_inject_then_extract_round_trips(trace_id: int, span_id: int, sampled: bool,
                                         state: list[tuple[str, str]]) -> None:
    sent = SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False,
                       trace_flags=TraceFlags(1 if sampled else 0), trace_state=TraceState(state))
    props = inject(set_span_in_context(NonRecordingSpan(sent)))
    got = _remote(list(props))
    assert (got.trace_id, got.span_id, got.trace_flags.sampled) == (trace_id, span_id, sampled)
    assert list(got.trace_state.items()) == state


class _LastGetter:
    """OpenTelemetry's view of a property list under the binding's rule (keys folded,
    the last occurrence wins): the reference our own parser must agree with."""

    def get(self, carrier: list[tuple[str, str]], key: str) -> list[str] | None:
        found = [v for k, v in carrier if k.lower() == key]
        return [found[-1]] if found and len(found[-1]) <= 4096 else None

    def keys(self, carrier: list[tuple[str, str]]) -> list[str]:
        return [k.lower() for k, _ in carrier]


_near_tp = st.one_of(
    _values,
    st.builds(lambda v, t, s, f, tail: f"{v}-{t}-{s}-{f}{tail}",
              st.sampled_from(["00", "01", "cc", "ff", "0g", "0"]),
              st.sampled_from(["0" * 32, "0af7651916cd43dd8448eb211c80319c", "A" * 32]),
              st.sampled_from(["0" * 16, "b7ad6b7169203331", "B7AD6B7169203331"]),
              st.sampled_from(["00", "01", "ff", "0x", "1"]),
              st.sampled_from(["", "-", "-x", "\n", " ", "\t-y", "-\n"])),
    st.builds(lambda pad, tail: pad + TP + tail, st.sampled_from(["", " ", "\t", "\n"]),
              st.sampled_from(["", " ", "\t", "\n", "\n\n", "-extra"])))
_member = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.from_regex(r"\A[a-z][a-z0-9_\-*/]{0,8}\Z"),
              st.from_regex(r"\A[!-+\--<>-~]{1,8}\Z")),
    st.builds(lambda t, k, v: f"{t}@{k}={v}", st.from_regex(r"\A[a-z0-9][a-z0-9_]{0,4}\Z"),
              st.from_regex(r"\A[a-z][a-z0-9]{0,4}\Z"), st.from_regex(r"\A[a-z0-9]{1,4}\Z")),
    st.sampled_from(["", " ", "K=v", "k=", "k=v ", "k=a b", "k=v=w", "k=\n", "\tk=v\t",
                     "1k=v", "k@=v", "k=v\nX-Forged: line",
                     # the grammar's lengths: values of 256 and 257, keys of 256 and 257,
                     # multi-tenant keys of 241@14 and 242@14
                     "k=" + "x" * 256, "k=" + "x" * 257, "k" * 256 + "=v", "k" * 257 + "=v",
                     "t" * 241 + "@" + "v" * 14 + "=1", "t" * 242 + "@" + "v" * 14 + "=1",
                     "t@" + "v" * 15 + "=1"]),
    st.text(max_size=10))
_states = st.one_of(st.none(), st.text(max_size=40),
                    st.sampled_from(["k=v", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
                                     "a=1,a=2", "=", "k=v,", " k = v "]),
                    st.builds(",".join, st.lists(_member, max_size=40)),
                    st.builds(lambda n, extra: ",".join(f"k{i}=v" for i in range(n)) + extra,
                              st.integers(30, 34), st.sampled_from(["", ",k0=w", ",", ",K=v"])))


@given(_near_tp, _states)
def test_extract_reads_exactly_what_opentelemetry_reads(parent: str, state: str | None) -> None:
    _reads_as_opentelemetry(parent, state)


def _reads_as_opentelemetry(parent: str, state: str | None) -> None:
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    props = [(TRACEPARENT, parent)] + ([(TRACESTATE, state)] if state is not None else [])
    ours = _remote(props)
    theirs = get_current_span(TraceContextTextMapPropagator().extract(
        props, context=Context(), getter=_LastGetter())).get_span_context()  # type: ignore[arg-type]
    assert (ours.is_valid, ours.trace_id, ours.span_id, ours.trace_flags, ours.is_remote) == (
        theirs.is_valid, theirs.trace_id, theirs.span_id, theirs.trace_flags, theirs.is_remote)
    assert list(ours.trace_state.items()) == list(theirs.trace_state.items())


@given(trace_id=st.integers(1, 2**128 - 1), span_id=st.integers(1, 2**64 - 1),
       flags=st.integers(0, 255))
def test_inject_writes_what_opentelemetry_writes(trace_id: int, span_id: int,
                                                 flags: int) -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    ctx = set_span_in_context(NonRecordingSpan(SpanContext(
        trace_id=trace_id, span_id=span_id, is_remote=False, trace_flags=TraceFlags(flags))))
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=ctx)
    assert dict(inject(ctx)) == carrier


@pytest.mark.parametrize("state", [
    "ok=1,bad member\nX-Forged: line", ",".join(f"k{i}=v" for i in range(33)),
    "k=v," * 3 + "K=v", "a=" + "x" * 300])
def test_a_hostile_tracestate_is_dropped_without_a_log_line(
        state: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sc = _remote([(TRACEPARENT, TP), (TRACESTATE, state)])
    assert sc.is_valid
    assert list(sc.trace_state.items()) == []
    assert caplog.records == []


_EDGES = ["k=" + "x" * 256, "k=" + "x" * 257, "k" * 256 + "=v", "k" * 257 + "=v",
          "t" * 241 + "@" + "v" * 14 + "=1", "t" * 242 + "@" + "v" * 14 + "=1",
          "t@" + "v" * 15 + "=1", "k= v", "k=v ", "k=~", "k=,", "k=\x7f", "k=\u00e9"]


@pytest.mark.parametrize("member", _EDGES)
@pytest.mark.parametrize("around", ["{}", "a=1,{}", "{}, b=2", " {} "])
def test_the_state_grammar_s_edges_read_as_opentelemetry_reads_them(
        member: str, around: str, caplog: pytest.LogCaptureFixture) -> None:
    """Same state as OpenTelemetry's parser, and never a state it would log about."""
    caplog.set_level(logging.DEBUG)
    _remote([(TRACEPARENT, TP), (TRACESTATE, around.format(member))])
    assert caplog.records == []
    _reads_as_opentelemetry(TP, around.format(member))
