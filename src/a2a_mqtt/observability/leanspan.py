"""Our own spans, recorded lean: a ``Tracer`` and ``Span`` of the OpenTelemetry *API*.

The API (``opentelemetry.trace``) defines ``Tracer`` and ``Span`` as abstract classes so
that implementations other than the SDK's can exist; this is one, used only for the
spans our own code opens (:mod:`.tracing`) when they are exported through the export
process (the default). It replaces one thing: the in-process recording object. The
SDK's ``start_span``, ``Span.__init__`` (a lock, bounded containers, every attribute
cleaned), ``end()`` and its ``ReadableSpan`` copy cost about 20 µs a span alone and
two to three times that inside a service (docs/performance.md, "Tracing: what it
costs"); a :class:`LeanSpan` records the same facts in one ``__slots__`` object and
at ``end()`` hands one tuple of plain values to a sink (the export process's
:class:`~.childexport.ProcessSpanProcessor`).

What stays the SDK's, so that no rule of OpenTelemetry is ours to keep in step:

* sampling: the SDK's sampler object (``ParentBased(TraceIdRatioBased|ALWAYS_ON)``),
  asked through its public ``should_sample``; its decision, trace state and
  attributes are used as the SDK's tracer uses them (:meth:`LeanTracer.start_below`
  skips the call only where its builder says the answer is fixed);
* ids: the SDK's ``RandomIdGenerator`` (any public ``IdGenerator``);
* limits: the SDK's ``SpanLimits`` (``OTEL_SPAN_*``, ``OTEL_ATTRIBUTE_*``). Events and
  links (rare: an exception, a user's call) go into the SDK's own ``BoundedList`` and
  ``BoundedAttributes`` as they are added, as in the SDK's span. Span attributes, the
  hot path, are recorded as given (plus a log of the writes after the start) and
  cleaned and bounded by the SDK's ``BoundedAttributes`` in the export process
  (:func:`.spanwire.load_lean_span`), replaying the same writes in the same order, so
  truncation, eviction and dropped counts are the SDK's;
* batching, the queue, encoding and export: the SDK's ``BatchSpanProcessor`` and the
  official ``OTLPSpanExporter``, in the export process, on spans rebuilt as SDK
  ``ReadableSpan``\\ s (``tests/unit/observability/test_leanspan.py`` compares the
  OTLP bytes with the SDK's span for the same calls).

Invariants: a value recorded is never mutated afterwards: the attributes given at
the start are copied once (the sampler's result, a read-only view of the caller's
mapping, is copied into a dict of ours); a later value that is not a plain ``str``,
``bool``, ``int``, ``float``, ``bytes`` or None is cleaned at once by the SDK's
``BoundedAttributes`` (sequences become tuples, other objects their ``str``), so
nothing a caller holds is kept and every row pickles. ``end()`` is idempotent and
safe from any thread; the other methods are meant for the thread that runs the
span's request (they are ignored after ``end()``, as the SDK's are).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, SpanLimits
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, TraceIdRatioBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util import types
from typing_extensions import override

from a2a_mqtt.binding.tracecontext import RemoteIds, format_ids, remote_context, trace_properties
from a2a_mqtt.observability.spanwire import event_rows, link_rows

__all__ = ["LeanSpan", "LeanTracer", "RowSink"]

RowSink = Callable[[tuple[Any, ...]], None]
"""Takes each ended, sampled span's row (:func:`.spanwire.load_lean_span`'s layout)."""

_PLAIN: Final = frozenset({str, bool, int, float, bytes, type(None)})
"""Value types the SDK's cleaning keeps as they are (strings are truncated, if a
limit says so, in the export process)."""
_FLAGS: Final = tuple(TraceFlags(f) for f in range(4))  # sampled x random-trace-id
_ID_LIMIT: Final = TraceIdRatioBased.TRACE_ID_LIMIT
_ENDING: Final = threading.Lock()
_SAMPLED: Final = int(TraceFlags.SAMPLED)
Ids = tuple[int, int, int, TraceState | None]
"""A span's trace id, span id, trace flags (an index of ``_FLAGS``) and trace state."""
# By identity: an Enum's ``__hash__`` is Python code, and the members are singletons
# that live as long as the process, so their ids key the table.
_KINDS: Final = {id(kind): kind.value for kind in SpanKind}
ParentRow = tuple[int | None, int, bool, int, tuple[tuple[str, str], ...]]
"""A parent in a row: its trace id (None: the span's own), span id, remote, flags, state."""


def _state_row(state: TraceState | None) -> tuple[tuple[str, str], ...]:
    # The default (empty) state by identity first: its length is a Python call.
    return () if state is DEFAULT_TRACE_STATE or not state else tuple(state.items())


def _plain(attributes: Mapping[Any, Any]) -> bool:
    for key, value in attributes.items():
        if type(key) is not str or not key or type(value) not in _PLAIN:
            return False
    return True


def _parent_row(parent: SpanContext | None, trace_id: int) -> ParentRow | None:
    if parent is None:
        return None
    return (None if parent.trace_id == trace_id else parent.trace_id, parent.span_id,
            parent.is_remote, int(parent.trace_flags), _state_row(parent.trace_state))


def _cleaned(attributes: Mapping[Any, Any]) -> tuple[dict[str, Any], list[Any]]:
    """``attributes`` as the SDK's ``BoundedAttributes`` cleans them (no limits: those
    apply in the export process), and one None per pair it dropped (invalid keys)."""
    cleaned = BoundedAttributes(attributes=attributes)
    return dict(cleaned.items()), [None] * cleaned.dropped


def _valid_link(context: SpanContext | None, attributes: types.Attributes) -> bool:
    # OpenTelemetry's rule: a link to an invalid context is kept only if it carries
    # attributes or a trace state.
    return bool(context and (context.is_valid or attributes or context.trace_state))


class LeanTracer(trace.Tracer):
    """Makes :class:`LeanSpan`\\ s; sampling, ids and limits are the SDK objects given."""

    def __init__(self, *, sampler: Sampler, id_generator: IdGenerator, limits: SpanLimits,
                 sink: RowSink, resource_index: int = 0, scope_index: int = 0,
                 parent_decides: bool = False, roots_sampled: bool = False,
                 root_ratio: TraceIdRatioBased | None = None) -> None:
        """``parent_decides``: ``sampler`` is the SDK's ``ParentBased`` with its default
        delegates, so under a valid parent it samples exactly when the parent is
        sampled; ``roots_sampled``: it samples every new trace (its root is
        ``ALWAYS_ON``); ``root_ratio``: its root is this ``TraceIdRatioBased``, which
        samples a new trace exactly when its id's low 64 bits are under the sampler's
        public ``bound`` (no attributes, no trace state otherwise). Only the one who
        built the sampler can say any of these (its delegates are not public);
        :meth:`start_below` then skips asking it where its answer is fixed."""
        self._sampler = sampler
        self._ids = id_generator
        self._random = 2 if id_generator.is_trace_id_random() else 0
        self._limits = limits
        self._sink = sink
        self._where = (resource_index, scope_index)
        self._parent_decides = parent_decides
        self._roots_sampled = roots_sampled
        self._root_bound = None if root_ratio is None else root_ratio.bound

    @property
    def span_type(self) -> type[LeanSpan]:
        """The type of the spans :meth:`start_below` takes as parents as they are."""
        return LeanSpan

    @override  # the API's signature
    def start_span(self, name: str, context: Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: types.Attributes = None,
                   links: Sequence[Link] | None = (), start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True,
                   ) -> trace.Span:
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            random = 2 if parent.trace_flags.random_trace_id else 0
        else:
            parent = None
            trace_id = self._ids.generate_trace_id()
            random = self._random
        result = self._sampler.should_sample(context, trace_id, name, kind, attributes, links)
        decision = result.decision
        span_id = self._ids.generate_span_id()
        flags = random | (decision is Decision.RECORD_AND_SAMPLE)
        ctx = SpanContext(trace_id, span_id, False, _FLAGS[flags], result.trace_state)
        if decision is Decision.DROP:
            return trace.NonRecordingSpan(ctx)
        return LeanSpan(self, name, (trace_id, span_id, flags, ctx.trace_state),
                        # A copy: the sampler's attributes are a view of the caller's
                        # mapping (or the mapping itself), and a span keeps a dict as given.
                        _parent_row(parent, trace_id), kind,
                        dict(result.attributes) if result.attributes else {}, links,
                        time_ns() if start_time is None else start_time,
                        record_exception, set_status_on_exception, context=ctx)

    def start_below(self, name: str, kind: SpanKind, attributes: Mapping[str, Any] | None,
                    parent: SpanContext | LeanSpan | RemoteIds) -> trace.Span:
        """:meth:`start_span` for our own blocks (:mod:`.tracing`), which have looked up
        the ``parent`` span context (invalid: a new trace), or the parent span itself
        when it is one of ours (its ids are read as plain values, and its span context
        is never built), or a remote parent's plain values as ``traceparent`` gave them
        (its span context is built only if the sampler must be asked), and never pass
        links, start times or exception flags. Where
        the sampler's decision is fixed by how it was built (``parent_decides``,
        ``roots_sampled``) it is not asked, and the span is what the SDK's sampler
        would have made: sampled, with the parent's trace state (a root: none) and
        ``attributes`` as given. Asking costs four context lookups and two result
        objects, about a fifth of a span's recording (docs/performance.md, Tracing,
        session 12). Otherwise it is asked with a context holding only ``parent``: all
        of the context the SDK's samplers read."""
        ids = self._ids
        if type(parent) is LeanSpan:
            trace_id, span_id, bits, state = parent._ids
            if self._parent_decides and bits & _SAMPLED:
                return LeanSpan(self, name, (trace_id, ids.generate_span_id(), bits, state),
                                (None, span_id, False, bits, _state_row(state)), kind,
                                attributes or {}, None, time_ns(), False, False)
            sc = parent.get_span_context()
        elif type(parent) is tuple:  # a remote parent's plain values (remote_ids)
            trace_id, span_id, bits, state = parent  # type: ignore[misc] # no cast: hot
            if self._parent_decides and bits & _SAMPLED:
                return LeanSpan(self, name, (trace_id, ids.generate_span_id(), 1 | (bits & 2),
                                             state),
                                (None, span_id, True, bits, _state_row(state)), kind,
                                attributes or {}, None, time_ns(), False, False)
            sc = remote_context(parent)  # type: ignore[arg-type]
        else:
            sc = parent  # type: ignore[assignment] # not narrowed by ``type() is``
        if sc.is_valid:
            flags = sc.trace_flags
            if self._parent_decides and flags.sampled:
                trace_id, state = sc.trace_id, sc.trace_state
                return LeanSpan(self, name, (trace_id, ids.generate_span_id(),
                                             3 if flags.random_trace_id else 1, state),
                                (None, sc.span_id, sc.is_remote, int(flags), _state_row(state)),
                                kind, attributes or {}, None, time_ns(), False, False)
            context = trace.set_span_in_context(trace.NonRecordingSpan(sc), Context())
        elif self._roots_sampled:
            return LeanSpan(self, name, (ids.generate_trace_id(), ids.generate_span_id(),
                                         self._random | 1, DEFAULT_TRACE_STATE),
                            None, kind, attributes or {}, None, time_ns(), False, False)
        elif self._root_bound is not None:
            # The root's rule, as TraceIdRatioBased.should_sample applies it; the ids
            # are drawn in start_span's order (the trace's, then the span's).
            trace_id = ids.generate_trace_id()
            span_id = ids.generate_span_id()
            if trace_id & _ID_LIMIT < self._root_bound:
                return LeanSpan(self, name, (trace_id, span_id, self._random | 1,
                                             DEFAULT_TRACE_STATE),
                                None, kind, attributes or {}, None, time_ns(), False, False)
            return trace.NonRecordingSpan(SpanContext(trace_id, span_id, False,
                                                      _FLAGS[self._random]))
        else:
            context = Context()
        return self.start_span(name, context, kind, attributes, record_exception=False,
                               set_status_on_exception=False)

    @override
    @contextmanager  # as the API's own: a context manager that also decorates
    def start_as_current_span(  # type: ignore[override] # the API's type is private
            self, name: str, context: Context | None = None,
            kind: SpanKind = SpanKind.INTERNAL, attributes: types.Attributes = None,
            links: Sequence[Link] | None = (), start_time: int | None = None,
            record_exception: bool = True, set_status_on_exception: bool = True,
            end_on_exit: bool = True) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time,
                               record_exception, set_status_on_exception)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current


class LeanSpan(trace.Span):
    """A recording span: only what was given, kept until :meth:`end` hands it on."""

    __slots__ = ("_attrs", "_context", "_end", "_events", "_ids", "_kind", "_links", "_name",
                 "_on_exit", "_parent", "_sets", "_start", "_status", "_tracer")

    def __init__(self, tracer: LeanTracer, name: str, ids: Ids,  # noqa: PLR0917 - made once per span, from one place
                 parent: ParentRow | None, kind: SpanKind, attributes: Mapping[str, Any],
                 links: Sequence[Link] | None, start: int, record_exception: bool,
                 set_status_on_exception: bool, *, context: SpanContext | None = None) -> None:
        self._tracer = tracer
        self._name = name
        # Its SpanContext is made when first asked for (an executor's span often never
        # is): end() reads the plain values.
        self._ids = ids
        self._context = context
        self._parent = parent
        self._kind = kind
        # A dict is kept as given: start_span hands over its own copy, and
        # start_below's callers, our own blocks, never change a dict after handing it
        # over (tracing.span), most being shared per topic, which the hand-off's pickle
        # then writes once per batch. This span never changes it either (later writes
        # go to _sets).
        attrs = (attributes if type(attributes) is dict
                 else dict(attributes) if attributes else {})
        # Writes after the start, in order, for the export process to replay: (key,
        # value), or None for a pair the SDK's cleaning dropped. None: no write yet.
        self._sets: list[Any] | None = None
        if attrs and not _plain(attrs):
            attrs, dropped = _cleaned(attrs)
            self._sets = dropped or None
        self._attrs = attrs
        self._events: BoundedList[Event] | None = None
        self._links: BoundedList[Link] | None = None
        if links:
            for link in links:
                self._link(link.context, link.attributes)
        self._status: Status | None = None
        self._start = start
        self._end: int | None = None
        self._on_exit = (record_exception, set_status_on_exception)

    # -- the API's Span ----------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        ctx = self._context
        if ctx is None:
            trace_id, span_id, flags, state = self._ids
            ctx = self._context = SpanContext(trace_id, span_id, False, _FLAGS[flags], state)
        return ctx

    def trace_properties(self) -> tuple[tuple[str, str], ...]:
        """``inject_span(self)``, formatted from the plain ids (no span context built)."""
        trace_id, span_id, flags, state = self._ids
        return trace_properties(format_ids(trace_id, span_id, flags), state)

    def is_recording(self) -> bool:
        return self._end is None

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end is not None:
            return
        if type(key) is str and key and type(value) in _PLAIN:
            entry: Any = (key, value)
        elif type(key) is not str or not key:
            entry = None  # the SDK drops (and counts) a pair with an invalid key
        else:
            entry = (key, BoundedAttributes(attributes={key: value})[key])
        sets = self._sets
        if sets is None:
            self._sets = [entry]
        else:
            sets.append(entry)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end is not None or not attributes:
            return
        cleaned, dropped = _cleaned(attributes)
        sets = self._sets
        if sets is None:
            sets = self._sets = []
        sets += dropped
        sets += cleaned.items()

    def add_event(self, name: str, attributes: types.Attributes = None,
                  timestamp: int | None = None) -> None:
        if self._end is not None:
            return
        limits = self._tracer._limits
        event = Event(name, BoundedAttributes(limits.max_event_attributes, attributes,
                                              max_value_len=limits.max_attribute_length),
                      timestamp)
        if self._events is None:
            self._events = BoundedList(limits.max_events)
        self._events.append(event)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end is None:
            self._link(context, attributes)

    def _link(self, context: SpanContext, attributes: types.Attributes) -> None:
        if not _valid_link(context, attributes):
            return
        limits = self._tracer._limits
        link = Link(context, BoundedAttributes(limits.max_link_attributes, attributes,
                                               max_value_len=limits.max_attribute_length))
        if self._links is None:
            self._links = BoundedList(limits.max_links)
        self._links.append(link)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # The API's rules: once OK, a status stays; UNSET never replaces one; a
        # description goes with a StatusCode, not with a Status (which has its own).
        current = self._status
        if self._end is not None or (current is not None
                                     and current.status_code is StatusCode.OK):
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        # The semantic conventions' exception event.
        cls = type(exception)
        module = cls.__module__
        attrs: dict[str, Any] = {
            "exception.type": (f"{module}.{cls.__qualname__}"
                               if module and module != "builtins" else cls.__qualname__),
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            attrs.update(attributes)
        self.add_event("exception", attrs, timestamp)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:
        # ``with span:`` records what escapes, as the start flags say.
        if exc is not None and self._end is None:
            record, set_status = self._on_exit
            if record:
                self.record_exception(exc, escaped=True)
            if set_status:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.end()

    def end(self, end_time: int | None = None) -> None:
        with _ENDING:  # idempotent from any thread: one row, once
            if self._end is not None:
                return
            self._end = end = time_ns() if end_time is None else end_time
        trace_id, span_id, flags, state = self._ids
        if not flags & _SAMPLED:
            return  # recorded, not sampled: never exported
        status = self._status
        events, links = self._events, self._links
        sets = self._sets
        tracer = self._tracer
        tracer._sink((
            self._name, trace_id, span_id, flags,
            () if state is DEFAULT_TRACE_STATE else _state_row(state),
            self._parent, _KINDS[id(self._kind)], self._attrs, tuple(sets) if sets else None,
            event_rows(events) if events else (), events.dropped if events else 0,
            link_rows(links) if links else (), links.dropped if links else 0,
            0 if status is None else status.status_code.value,
            None if status is None else status.description,
            self._start, end, *tracer._where))
