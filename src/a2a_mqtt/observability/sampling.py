"""The tracer provider's sampler: ``ParentBased(TraceIdRatioBased(R))``'s decisions in one step.

The SDK's ``ParentBased`` looks the parent span up in the context, picks a delegate,
and the delegate looks it up again for its trace state: two context lookups, a
keyword call and a ``SamplingResult`` for every span started. :class:`ParentRatioSampler`
is the same sampler through the SDK's public ``Sampler`` interface, with one lookup:

* a valid parent decides: sampled → ``RECORD_AND_SAMPLE`` with the attributes given,
  not sampled → ``DROP`` without them; remote or local alike (ParentBased's default
  delegates are ``ALWAYS_ON`` and ``ALWAYS_OFF`` for both); the trace state is the
  parent's;
* no valid parent (a root): at ``R >= 1`` ``RECORD_AND_SAMPLE``; below, the SDK's own
  ``TraceIdRatioBased(R)`` decides (the same trace-id hashing, bound and result).

``tests/unit/observability/test_sampling.py`` holds every decision, attribute set and
trace state equal to ``ParentBased``'s on any parent and ratio.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

__all__ = ["ParentRatioSampler"]


class ParentRatioSampler(Sampler):
    """``ParentBased(TraceIdRatioBased(ratio))`` (``ParentBased(ALWAYS_ON)`` at 1)."""

    def __init__(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sample ratio {ratio} is not within 0..1")
        self.ratio = ratio
        self._root: Sampler | None = None if ratio >= 1.0 else TraceIdRatioBased(ratio)
        # ParentBased's own description (its method carries no annotations).
        self._description: str = str(
            ParentBased(self._root or ALWAYS_ON).get_description())  # type: ignore[no-untyped-call]

    def should_sample(  # noqa: PLR0917 - the SDK's Sampler signature
            self, parent_context: Context | None, trace_id: int, name: str,
            kind: SpanKind | None = None, attributes: Attributes = None,
            links: Sequence[Link] | None = None,
            trace_state: TraceState | None = None) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if parent is not None and parent.is_valid:
            if parent.trace_flags.sampled:
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes,
                                      parent.trace_state)
            return SamplingResult(Decision.DROP, None, parent.trace_state)
        root = self._root
        if root is None:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, None)
        return root.should_sample(parent_context, trace_id, name, kind, attributes, links)

    def get_description(self) -> str:
        return self._description
