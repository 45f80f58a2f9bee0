"""Finished spans as plain tuples, and back: the hand-off to the export process.

The export process (:mod:`.exportproc`) runs the official OTLP exporter on spans the
service process finished. What crosses the pipe is built only from the public
properties of the SDK's ``ReadableSpan`` and rebuilt with the SDK's public
constructors; the official encoder then sees a span it cannot tell from the
original (``tests/unit/observability/test_spanwire.py`` compares the OTLP bytes).
Pure: no I/O; the framing (:func:`frame`, :func:`unframe_header`) is a 4-byte
big-endian length before a pickle.

Pickle is safe here because both ends are this package: the export process reads
only the pipe its parent opened for it.

Two row layouts: :func:`span_row`'s, from an SDK span that ended (its attributes
already cleaned and bounded by the SDK), and :func:`load_lean_span`'s, from one of our
:class:`~.leanspan.LeanSpan`\\ s, whose attributes the SDK's ``BoundedAttributes``
cleans and bounds here, in the export process.

Invariant: a batch carries each resource and instrumentation scope once, and every
span names them by index, since all spans of one provider share them.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

__all__ = [
    "HEADER", "dump_batch", "event_rows", "frame", "link_rows", "load_batch", "load_lean_span",
    "load_resource", "load_scope", "load_span", "resource_row", "scope_row", "span_row",
    "unframe_header",
]

HEADER: Final = struct.Struct(">I")
"""The length of the pickle that follows."""


Ctx = tuple[int, int, bool, int, tuple[tuple[str, str], ...]]


def frame(payload: object) -> bytes:
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def unframe_header(header: bytes) -> int:
    (size,) = HEADER.unpack(header)
    return int(size)


def _ctx(c: SpanContext) -> Ctx:
    state = c.trace_state
    return (c.trace_id, c.span_id, c.is_remote, int(c.trace_flags),
            tuple(state.items()) if state else ())


def _context(t: Ctx) -> SpanContext:
    return SpanContext(t[0], t[1], t[2], TraceFlags(t[3]), TraceState(list(t[4])))


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    # The SDK's BoundedAttributes copies its dict in one call (through the read-only
    # proxy a ReadableSpan gives out); a plain dict() of a Mapping would walk it key by
    # key in Python.
    copy = getattr(attributes, "copy", None)
    if copy is not None:
        copied = copy()
        return copied if type(copied) is dict else dict(copied)
    return dict(attributes)


def resource_row(r: Resource) -> tuple[dict[str, Any], str]:
    return (_attrs(r.attributes), r.schema_url)


def scope_row(sc: InstrumentationScope | None
              ) -> tuple[str, str | None, str | None, dict[str, Any]] | None:
    return None if sc is None else (sc.name, sc.version, sc.schema_url, _attrs(sc.attributes))


def span_row(s: ReadableSpan, resource: int, scope: int) -> tuple[Any, ...]:
    """One finished span as a tuple; ``resource`` and ``scope`` are the indices its
    receiver knows the span's resource and instrumentation scope by.

    Run once per span on the service's event loop, so it reads each property once and
    calls nothing it can do inline. A span with a parent shares its trace id (the
    SDK gives a child its parent's), so the parent goes without it."""
    ctx = s.context
    parent = s.parent
    status = s.status
    events, links = s.events, s.links
    if ctx is None:
        ctx_row: Ctx | None = None
    else:
        state = ctx.trace_state
        ctx_row = (ctx.trace_id, ctx.span_id, ctx.is_remote, int(ctx.trace_flags),
                   tuple(state.items()) if state else ())
    if parent is None:
        parent_row: tuple[int, bool, int, tuple[tuple[str, str], ...]] | None = None
    else:
        pstate = parent.trace_state
        parent_row = (parent.span_id, parent.is_remote, int(parent.trace_flags),
                      tuple(pstate.items()) if pstate else ())
    return (
        s.name, ctx_row,
        None if parent is None or parent.trace_id == (ctx.trace_id if ctx else None)
        else parent.trace_id,
        parent_row, resource, scope,
        _attrs(s.attributes),
        event_rows(events) if events else (),
        link_rows(links) if links else (),
        s.kind.value, status.status_code.value, status.description,
        s.start_time, s.end_time,
        s.dropped_attributes, s.dropped_events, s.dropped_links)


def event_rows(events: Iterable[Event]) -> tuple[Any, ...]:
    return tuple((e.name, _attrs(e.attributes), e.timestamp, e.dropped_attributes)
                 for e in events)


def link_rows(links: Iterable[Link]) -> tuple[Any, ...]:
    return tuple((_ctx(link.context), _attrs(link.attributes), link.dropped_attributes)
                 for link in links)


def dump_batch(spans: Sequence[ReadableSpan]) -> tuple[Any, ...]:
    """The batch as tuples: ``(resources, scopes, spans)``."""
    resources: dict[int, int] = {}
    scopes: dict[int, int] = {}
    res_rows: list[tuple[dict[str, Any], str]] = []
    scope_rows: list[tuple[str, str | None, str | None, dict[str, Any]] | None] = []
    rows: list[tuple[Any, ...]] = []
    for s in spans:
        r = s.resource
        ri = resources.get(id(r))
        if ri is None:
            ri = resources[id(r)] = len(res_rows)
            res_rows.append(resource_row(r))
        sc = s.instrumentation_scope
        si = scopes.get(id(sc))
        if si is None:
            si = scopes[id(sc)] = len(scope_rows)
            scope_rows.append(scope_row(sc))
        rows.append(span_row(s, ri, si))
    return (tuple(res_rows), tuple(scope_rows), tuple(rows))


class _Event(Event):
    """An event with the dropped-attribute count it had in the service process."""

    def __init__(self, name: str, attributes: dict[str, Any], timestamp: int | None,
                 dropped: int) -> None:
        super().__init__(name, attributes, timestamp)
        self._carried_dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._carried_dropped


class _Link(Link):
    def __init__(self, context: SpanContext, attributes: dict[str, Any], dropped: int) -> None:
        super().__init__(context, attributes)
        self._carried_dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._carried_dropped


class _Span(ReadableSpan):
    """A finished span as the service process had it, dropped counts included (the
    SDK keeps those in its bounded containers, which do not cross the pipe)."""

    def __init__(self, *, dropped: tuple[int, int, int], **fields: Any) -> None:
        super().__init__(**fields)
        self._carried_dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._carried_dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._carried_dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._carried_dropped[2]


class _Resource(Resource):
    """A resource whose hash is computed once: the official encoder groups every span by
    its resource in a dict, and ``Resource.__hash__`` serialises all its attributes to
    JSON each time (7 % of the export process's CPU). A resource never changes after
    it is made, so the hash cannot either; equality is the SDK's."""

    def __init__(self, attributes: dict[str, Any], schema_url: str) -> None:
        super().__init__(attributes, schema_url)
        self._carried_hash = super().__hash__()

    def __hash__(self) -> int:
        return self._carried_hash


def load_resource(row: tuple[dict[str, Any], str]) -> Resource:
    return _Resource(row[0], row[1])


def load_scope(row: tuple[str, str | None, str | None, dict[str, Any]] | None
               ) -> InstrumentationScope | None:
    return None if row is None else InstrumentationScope(row[0], row[1], row[2], row[3])


def load_span(row: tuple[Any, ...], resources: Sequence[Resource] | Mapping[int, Resource],
              scopes: Sequence[InstrumentationScope | None]
              | Mapping[int, InstrumentationScope | None]) -> ReadableSpan:
    """The span :func:`span_row` was given, as the official encoder reads it."""
    (name, ctx, parent_trace, parent, ri, si, attrs, events, links, kind, code, description,
     start, end, d_attrs, d_events, d_links) = row
    status_code = StatusCode(code)
    context = None if ctx is None else _context(ctx)
    if parent is None:
        parent_context = None
    else:
        trace_id = parent_trace if parent_trace is not None else ctx[0]
        parent_context = SpanContext(trace_id, parent[0], parent[1], TraceFlags(parent[2]),
                                     TraceState(list(parent[3])))
    return _Span(
        name=name, context=context, parent=parent_context,
        resource=resources[ri], attributes=attrs,
        events=tuple(_Event(n, a, ts, d) for n, a, ts, d in events),
        links=tuple(_Link(_context(c), a, d) for c, a, d in links),
        kind=SpanKind(kind),
        status=Status(status_code, description if status_code is StatusCode.ERROR else None),
        start_time=start, end_time=end, instrumentation_scope=scopes[si],
        dropped=(d_attrs, d_events, d_links))


def load_lean_span(row: tuple[Any, ...],
                   resources: Sequence[Resource] | Mapping[int, Resource],
                   scopes: Sequence[InstrumentationScope | None]
                   | Mapping[int, InstrumentationScope | None],
                   limits: SpanLimits) -> ReadableSpan:
    """The span a :class:`~.leanspan.LeanSpan` recorded, as the SDK's span would have
    ended it: its attributes go through the SDK's ``BoundedAttributes`` under the SDK's
    ``limits`` (the attributes given at the start, then every later write in order),
    so cleaning, truncation, eviction and the dropped count are the SDK's.

    Row layout (``LeanSpan.end``): name, trace id, span id, trace flags, trace state
    items, parent (None, or its trace id when not the span's, span id, is_remote,
    flags, state items), kind, the start attributes, the later writes (None, or
    ``(key, value)`` / None for a pair already dropped), event rows, events dropped,
    link rows, links dropped, status code, description, start, end, resource index,
    scope index."""
    (name, trace_id, span_id, flags, state, parent, kind, attrs, sets, events, d_events,
     links, d_links, code, description, start, end, ri, si) = row
    attributes, dropped = _bounded(attrs, sets, limits)
    if parent is None:
        parent_context = None
    else:
        parent_context = SpanContext(trace_id if parent[0] is None else parent[0], parent[1],
                                     parent[2], TraceFlags(parent[3]), _state(parent[4]))
    status_code = _CODES[code]
    return _Span(
        name=name,
        context=SpanContext(trace_id, span_id, False, TraceFlags(flags), _state(state)),
        parent=parent_context, resource=resources[ri], attributes=attributes,
        events=tuple(_Event(n, a, ts, d) for n, a, ts, d in events),
        links=tuple(_Link(_context(c), a, d) for c, a, d in links),
        kind=_KINDS[kind],
        status=(_UNSET if status_code is StatusCode.UNSET else Status(
            status_code, description if status_code is StatusCode.ERROR else None)),
        start_time=start, end_time=end, instrumentation_scope=scopes[si],
        dropped=(dropped, d_events, d_links))


_KINDS: Final = {k.value: k for k in SpanKind}
_CODES: Final = {c.value: c for c in StatusCode}
_UNSET: Final = Status(StatusCode.UNSET)
_NO_STATE: Final = TraceState()


def _state(items: tuple[tuple[str, str], ...]) -> TraceState:
    return TraceState(list(items)) if items else _NO_STATE


def _bounded(attrs: dict[str, Any], sets: tuple[Any, ...] | None, limits: SpanLimits
             ) -> tuple[dict[str, Any], int]:
    """A lean span's attributes and how many were dropped, as the SDK's span ends with
    them: the SDK's ``BoundedAttributes`` under ``limits``, given the start attributes,
    then each later write in order.

    When no limit can act (no length limit, no pair dropped in the service, no more
    distinct keys than the count limit) that is the plain dict with each write put last,
    which is what it computes then: the service sends only values that cleaning leaves
    as they are (``leanspan``: plain scalars, or values it cleaned already)."""
    maxlen, max_value_len = limits.max_span_attributes, limits.max_span_attribute_length
    if max_value_len is None and (not sets or None not in sets):
        result = dict(attrs)
        for key, value in sets or ():
            result.pop(key, None)
            result[key] = value
        if maxlen is None or len(result) <= maxlen:
            return result, 0
    bounded = BoundedAttributes(maxlen, attrs, immutable=False, max_value_len=max_value_len)
    for entry in sets or ():
        if entry is None:
            bounded.dropped += 1
        else:
            bounded[entry[0]] = entry[1]
    return bounded.copy(), bounded.dropped  # type: ignore[return-value]


def load_batch(batch: tuple[Any, ...]) -> list[ReadableSpan]:
    """The spans :func:`dump_batch` was given, as the official encoder reads them."""
    res_rows, scope_rows, rows = batch
    resources = [load_resource(row) for row in res_rows]
    scopes = [load_scope(row) for row in scope_rows]
    return [load_span(row, resources, scopes) for row in rows]
