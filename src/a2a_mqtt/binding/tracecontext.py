"""W3C Trace Context in MQTT 5 User Properties (pure: property lists in, property lists out).

The W3C "Trace Context: MQTT format" draft puts the two fields in User
Properties named exactly ``traceparent`` and ``tracestate`` (lower case, no
prefix), their values in the Trace Context formats (docs/binding.md §4.5).
They are not ``a2a-`` properties, so they are never service parameters.

Reading follows the binding's rule for User Properties: keys are matched
case-insensitively and the last occurrence wins. ``traceparent`` is parsed here
(W3C Trace Context level 1, section 3.2; the hot path of every traced request,
four times cheaper than OpenTelemetry's generic propagator API): a malformed
value (upper-case hex, an all-zero id, version ``ff``, a version ``00`` with
trailing fields, ...) is ignored, so the receiver starts a new trace instead of
joining a bogus one. ``tracestate`` is parsed by OpenTelemetry's ``TraceState``
(an invalid one is dropped), once its members passed the W3C grammar here: the
parser logs a warning, quoting the member, for each one it refuses. A hypothesis
test holds the reading equal to OpenTelemetry's ``TraceContextTextMapPropagator``
on any input. Writing replaces
any earlier trace properties, so a message never carries two contexts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from opentelemetry.context import Context
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    NonRecordingSpan,
    Span,
    SpanContext,
    TraceFlags,
    TraceState,
    get_current_span,
    set_span_in_context,
)

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "RemoteIds",
    "extract",
    "format_ids",
    "format_traceparent",
    "inject",
    "inject_span",
    "parse_ids",
    "parse_traceparent",
    "remote_context",
    "remote_ids",
    "remote_parent",
    "trace_properties",
    "with_trace_context",
    "without_trace_context",
]

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
_NAMES: Final = frozenset({TRACEPARENT, TRACESTATE})
# Far above any valid value (traceparent is 55 characters, tracestate at most
# 32 members of ~260): a longer one is dropped unread, never handed to a parser.
_MAX_VALUE: Final = 4096
# version "-" trace-id "-" parent-id "-" flags, then (versions after 00 only) more
# fields after a "-". Surrounding blanks are tolerated, as OpenTelemetry does.
_TRACEPARENT: Final = re.compile(
    r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*$")
# W3C Trace Context level 1, section 3.3.1: a tracestate list-member is key "=" value,
# at most 32 of them. OpenTelemetry's TraceState.from_header applies the same grammar,
# but logs a warning for each bad member, quoting it: one per hostile message, a log
# flood an attacker controls. Checked here first, a bad state never reaches it.
_STATE_MEMBER: Final = re.compile(
    r"(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_MAX_STATE_MEMBERS: Final = 32
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED: Final = TraceFlags(TraceFlags.DEFAULT)
_NO_STATE: Final = DEFAULT_TRACE_STATE
"""The API's own empty state: what a span context without one holds (found by identity)."""

UserProperties = Sequence[tuple[str, str]]


RemoteIds = tuple[int, int, int, TraceState]
"""A remote parent as plain values: trace id, span id, trace flags, trace state. What a
lean span's start reads (a ``SpanContext`` costs a construction and a property call
per field); :func:`remote_context` makes the context."""


def parse_traceparent(value: str, state: str | None = None) -> SpanContext | None:
    """The remote span a ``traceparent`` (and ``tracestate``) names, or None when the
    ``traceparent`` is not valid."""
    ids = parse_ids(value, state)
    return None if ids is None else remote_context(ids)


def parse_ids(value: str, state: str | None = None) -> RemoteIds | None:
    """:func:`parse_traceparent` as plain values."""
    m = _TRACEPARENT.match(value)
    if m is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = m.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return (trace_id, span_id, int(flags_hex, 16),
            _trace_state(state) if state else _NO_STATE)


def remote_context(ids: RemoteIds) -> SpanContext:
    """The remote ``SpanContext`` of :func:`parse_ids`' values."""
    trace_id, span_id, flags, state = ids
    trace_flags = (_SAMPLED if flags == 1 else _NOT_SAMPLED if flags == 0
                   else TraceFlags(flags))
    # Positional: keywords cost a third of this call (trace id, span id, remote, flags, state).
    return SpanContext(trace_id, span_id, True, trace_flags, state)


def _trace_state(header: str) -> TraceState:
    """``TraceState.from_header([header])`` (empty when the header is not valid), without
    the warning it logs for each bad member: a state with a bad member or more than 32
    members is found empty here, as it would have."""
    members = 0
    for raw in header.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        if _STATE_MEMBER.fullmatch(member) is None:
            return _NO_STATE
        members += 1
    if members > _MAX_STATE_MEMBERS:
        return _NO_STATE
    return TraceState.from_header([header])


_FLAGS_HEX: Final = tuple(f"{flags:02x}" for flags in range(256))


def format_traceparent(sc: SpanContext) -> str:
    """Version 00 of the format: what every sender writes."""
    return format_ids(sc.trace_id, sc.span_id, sc.trace_flags)


def format_ids(trace_id: int, span_id: int, flags: int) -> str:
    """:func:`format_traceparent` of a span context's plain values."""
    return f"00-{trace_id:032x}-{span_id:016x}-{_FLAGS_HEX[flags & 0xFF]}"


def trace_properties(parent: str, state: TraceState | None) -> tuple[tuple[str, str], ...]:
    """The properties of a formatted ``traceparent`` and its state (none when empty)."""
    if state is _NO_STATE or not state:
        return ((TRACEPARENT, parent),)
    return ((TRACEPARENT, parent), (TRACESTATE, state.to_header()))


def extract(user_properties: UserProperties, context: Context | None = None) -> Context:
    """``context`` (default: an empty one) with the remote span the properties name, if
    valid; otherwise ``context`` unchanged. Never raises on any property list."""
    sc = remote_parent(user_properties)
    base = Context() if context is None else context
    return base if sc is None else set_span_in_context(NonRecordingSpan(sc), base)


def remote_parent(user_properties: UserProperties) -> SpanContext | None:
    """The remote span the properties name (what :func:`extract` puts in its context),
    or None when they name no valid one. Never raises on any property list."""
    ids = remote_ids(user_properties)
    return None if ids is None else remote_context(ids)


def remote_ids(user_properties: UserProperties) -> RemoteIds | None:
    """:func:`remote_parent` as plain values."""
    parent: str | None = None
    state: str | None = None
    for name, value in user_properties:
        # The exact names first: what every sender writes, no lower() per property.
        if name == TRACEPARENT or (len(name) == 11 and name.lower() == TRACEPARENT):
            parent = value
        elif name == TRACESTATE or (len(name) == 10 and name.lower() == TRACESTATE):
            state = value
    if parent is None or len(parent) > _MAX_VALUE:
        return None
    if state is not None and len(state) > _MAX_VALUE:
        state = None
    return parse_ids(parent, state)


def inject_span(span: Span) -> tuple[tuple[str, str], ...]:
    """The ``traceparent`` (and, when non-empty, ``tracestate``) properties naming
    ``span``; empty when it has no valid span context."""
    sc = span.get_span_context()
    if not sc.is_valid:
        return ()
    return trace_properties(format_traceparent(sc), sc.trace_state)


def inject(context: Context | None = None) -> tuple[tuple[str, str], ...]:
    """The ``traceparent`` (and, when non-empty, ``tracestate``) properties naming the
    span of ``context`` (default: the current one); empty when it has no valid span."""
    return inject_span(get_current_span(context))


def without_trace_context(user_properties: Iterable[tuple[str, str]]
                          ) -> tuple[tuple[str, str], ...]:
    """The properties minus every ``traceparent``/``tracestate`` (any case)."""
    return tuple((k, v) for k, v in user_properties if k.lower() not in _NAMES)


def with_trace_context(user_properties: Iterable[tuple[str, str]],
                       context: Context | None = None) -> tuple[tuple[str, str], ...]:
    """The properties with their trace context replaced by that of ``context``."""
    return without_trace_context(user_properties) + inject(context)
