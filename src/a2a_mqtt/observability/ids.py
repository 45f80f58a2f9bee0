"""The tracer provider's id generator: random ids, or the ones chosen for the next span.

The requester's CLIENT span lives as long as its call (at 100 in flight, about 100
ms), long enough for its dozen objects to reach the garbage collector's oldest
generation and bring the next full collection closer (docs/performance.md,
"Tracing: what it costs", session 8). So :mod:`.tracing` makes that span when the
call ends, with the start time it had: the call carries the span's ``traceparent``
from its start, so the span must get the ids chosen then. :meth:`ChosenIds.choose`
names them for the next span this thread starts; the SDK's tracer asks its
provider's id generator (its public ``IdGenerator`` interface) and gets them.

Invariant: a choice is taken by the very next ``start_span`` on the same thread
(the caller chooses, starts and clears with nothing in between); every other span,
on any thread, gets the SDK's random ids.
"""

from __future__ import annotations

import threading

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

__all__ = ["ChosenIds"]


class ChosenIds(RandomIdGenerator):
    """The SDK's ``RandomIdGenerator``, except for ids chosen with :meth:`choose`."""

    def __init__(self) -> None:
        self._chosen = threading.local()

    def choose(self, trace_id: int | None, span_id: int) -> None:
        """The ids of the next span this thread starts (``trace_id`` None: a child,
        whose trace id is its parent's)."""
        chosen = self._chosen
        chosen.trace_id, chosen.span_id = trace_id, span_id

    def clear(self) -> None:
        chosen = self._chosen
        chosen.trace_id = chosen.span_id = None

    def generate_span_id(self) -> int:
        chosen = self._chosen
        span_id: int | None = getattr(chosen, "span_id", None)
        if span_id is None:
            return super().generate_span_id()
        chosen.span_id = None
        return span_id

    def generate_trace_id(self) -> int:
        chosen = self._chosen
        trace_id: int | None = getattr(chosen, "trace_id", None)
        if trace_id is None:
            return super().generate_trace_id()
        chosen.trace_id = None
        return trace_id
