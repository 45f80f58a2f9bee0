"""The provider's sampler decides exactly as ``ParentBased(TraceIdRatioBased(R))``.

Any parent (none, invalid, remote or local, sampled or not, with or without a trace
state), any trace id and ratio: the decision, the attributes handed to the span and
the trace state must be those of the SDK's own composition.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from a2a_mqtt.observability.sampling import ParentRatioSampler

ratios = st.one_of(st.sampled_from([0.0, 0.01, 0.5, 1.0]), st.floats(0.0, 1.0))
states = st.sampled_from([TraceState(), TraceState([("k", "v")]),
                          TraceState([("a", "1"), ("b", "2")])])


@st.composite
def parents(draw: st.DrawFn) -> Context | None:
    choice = draw(st.sampled_from(["none", "empty", "invalid", "span"]))
    if choice == "none":
        return None
    if choice == "empty":
        return Context()
    if choice == "invalid":
        return set_span_in_context(INVALID_SPAN)
    sc = SpanContext(draw(st.integers(0, 2**128 - 1)), draw(st.integers(0, 2**64 - 1)),
                     is_remote=draw(st.booleans()),
                     trace_flags=TraceFlags(draw(st.integers(0, 255))),
                     trace_state=draw(states))
    return set_span_in_context(NonRecordingSpan(sc))


def _seen(result: SamplingResult) -> tuple[Any, ...]:
    state = result.trace_state
    return (result.decision, dict(result.attributes),
            None if state is None else tuple(state.items()))


@given(ratio=ratios, parent=parents(), trace_id=st.integers(1, 2**128 - 1),
       attributes=st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=5),
                                                       st.integers(), max_size=3)))
def test_the_same_decisions_as_the_sdks_parent_based_ratio(
        ratio: float, parent: Context | None, trace_id: int,
        attributes: dict[str, int] | None) -> None:
    sdk = ParentBased(ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio))
    ours = ParentRatioSampler(ratio)
    args = (parent, trace_id, "a2a/SendMessage", SpanKind.SERVER, attributes, ())
    assert _seen(ours.should_sample(*args)) == _seen(sdk.should_sample(*args))
    assert ours.get_description() == sdk.get_description()


def test_a_root_at_full_ratio_is_sampled_and_an_unsampled_parent_drops() -> None:
    ours = ParentRatioSampler(1.0)
    assert ours.should_sample(None, 1, "n", attributes={"a": 1}).decision \
        is Decision.RECORD_AND_SAMPLE
    unsampled = set_span_in_context(NonRecordingSpan(SpanContext(5, 6, True)))
    dropped = ours.should_sample(unsampled, 5, "n", attributes={"a": 1})
    assert (dropped.decision, dict(dropped.attributes)) == (Decision.DROP, {})


def test_a_ratio_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not within"):
        ParentRatioSampler(1.5)
