"""The spans a2a-mqtt opens itself: lean recording spans, sampled as the SDK would.

Why not the SDK's ``Tracer``: a span there is some fifteen objects (the span, a
sampling result and its mapping proxy, bounded attribute and event and link
containers with their locks and deques, a read-only copy at its end), about 20 µs
and, counted in a service's CPU, more again in the garbage collections those
allocations bring; three per traced request was most of tracing's cost
(docs/performance.md, "Tracing: what it costs"). A :class:`LeanSpan` is one object
with a plain attribute dict, handed as it is to the export queue at its end.

Invariants:

* Sampling is the SDK's ``ParentBased(TraceIdRatioBased(ratio))``: a span with a
  valid parent is recorded iff the parent is sampled; a root iff the low 64 bits
  of its (random) trace id are below ``ratio * 2**64``. A root's flags carry the
  W3C "random trace id" bit, as the SDK's do; a child inherits it.
* A span not recorded is an API ``NonRecordingSpan``: nothing is queued for it.
* A :class:`LeanSpan` implements the API ``Span`` (so contexts, log correlation,
  a2a-sdk's own spans and user code see an ordinary span) and the read-only
  properties the OTLP encoder reads (:class:`a2a_mqtt.observability.otlp_encode.
  ExportableSpan`); once ended it changes no more.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry.sdk.trace import Event
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util.types import Attributes, AttributeValue

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["EndedSpans", "LeanSpan", "LeanTracer"]

_UNSET: Final = Status(StatusCode.UNSET)
_NO_STATE: Final = TraceState()
_LOW64: Final = (1 << 64) - 1
_RANDOM: Final = TraceFlags.RANDOM_TRACE_ID
_FLAGS: Final = {(sampled, rnd): TraceFlags((1 if sampled else 0) | (_RANDOM if rnd else 0))
                 for sampled in (False, True) for rnd in (False, True)}


class EndedSpans(Protocol):
    """Where an ended span goes (the export queue)."""

    def on_end(self, span: Any) -> None: ...


class LeanSpan(Span):
    """A recording span (see the module docstring)."""

    __slots__ = ("_queue", "attributes", "context", "end_time", "events",
                 "instrumentation_scope", "kind", "links", "name", "parent", "resource",
                 "start_time", "status")

    dropped_attributes: Final = 0
    dropped_events: Final = 0
    dropped_links: Final = 0

    def __init__(self, name: str, context: SpanContext, *, parent: SpanContext | None,
                 kind: SpanKind, attributes: dict[str, Any], tracer: LeanTracer) -> None:
        self.name, self.context, self.parent, self.kind = name, context, parent, kind
        self.attributes = attributes
        self.events: list[Event] = []
        self.links: tuple[Link, ...] = ()
        self.status = _UNSET
        self.resource: Resource = tracer.resource
        self.instrumentation_scope: InstrumentationScope = tracer.scope
        self._queue = tracer.queue
        self.start_time = time.time_ns()
        self.end_time: int | None = None

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time or time.time_ns()
            self._queue.on_end(self)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self.end_time is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self.end_time is None:
            self.attributes.update(attributes)

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is None:
            self.status = status if isinstance(status, Status) else Status(status, description)

    def add_event(self, name: str, attributes: Attributes = None,
                  timestamp: int | None = None) -> None:
        if self.end_time is None:
            self.events.append(Event(name, dict(attributes or {}), timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        if self.end_time is None and context.is_valid:
            self.links = (*self.links, Link(context, attributes))

    def record_exception(self, exception: BaseException, attributes: Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        """The ``exception`` event of the semantic conventions."""
        attrs: dict[str, Any] = {
            "exception.type": type(exception).__name__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped)}
        attrs.update(attributes or {})
        self.add_event("exception", attrs, timestamp)


class LeanTracer:
    """Starts :class:`LeanSpan` objects, sampling as ``ParentBased(TraceIdRatioBased)``."""

    def __init__(self, *, ratio: float, resource: Resource, scope: InstrumentationScope,
                 queue: EndedSpans) -> None:
        self.ratio = ratio
        self._bound = round(ratio * (1 << 64))
        self.resource, self.scope, self.queue = resource, scope, queue

    def start(self, name: str, kind: SpanKind, attributes: Mapping[str, Any] | None,
              parent: SpanContext | None) -> Span:
        """A span under ``parent`` (None or invalid: a new root). Not made current."""
        bits = random.getrandbits
        span_id = bits(64) or 1
        if parent is not None and parent.is_valid:
            trace_id, state = parent.trace_id, parent.trace_state
            sampled = parent.trace_flags.sampled
            rnd = parent.trace_flags.random_trace_id
        else:
            parent, state, rnd = None, _NO_STATE, True
            trace_id = bits(128) or 1
            sampled = (trace_id & _LOW64) < self._bound
        context = SpanContext(trace_id, span_id, is_remote=False,
                              trace_flags=_FLAGS[sampled, rnd], trace_state=state)
        if not sampled:
            return NonRecordingSpan(context)
        return LeanSpan(name, context, parent=parent, kind=kind,
                        attributes=dict(attributes) if attributes else {}, tracer=self)

