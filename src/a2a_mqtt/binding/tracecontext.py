"""W3C Trace Context in MQTT 5 User Properties (pure: property lists in, property lists out).

The W3C "Trace Context: MQTT format" draft puts the two fields in User
Properties named exactly ``traceparent`` and ``tracestate`` (lower case, no
prefix), their values in the Trace Context formats (docs/binding.md §4.5).
They are not ``a2a-`` properties, so they are never service parameters.

Reading follows the binding's rule for User Properties: keys are matched
case-insensitively and the last occurrence wins. Values are parsed and checked
by OpenTelemetry's :class:`TraceContextTextMapPropagator`: a malformed
``traceparent`` (or an all-zero id, version ``ff``, ...) is ignored, so the
receiver starts a new trace instead of joining a bogus one, and an invalid
``tracestate`` is dropped. Writing replaces any earlier trace properties, so a
message never carries two contexts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "extract",
    "inject",
    "with_trace_context",
    "without_trace_context",
]

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
_NAMES: Final = frozenset({TRACEPARENT, TRACESTATE})
# Far above any valid value (traceparent is 55 characters, tracestate at most
# 32 members of ~260): a longer one is dropped unread, never handed to a parser.
_MAX_VALUE: Final = 4096

_PROPAGATOR: Final = TraceContextTextMapPropagator()

UserProperties = Sequence[tuple[str, str]]


class _PropertyGetter(Getter[UserProperties]):
    """Reads a User Property list as the propagator's carrier: one value per key,
    the last occurrence, keys compared case-insensitively."""

    def get(self, carrier: UserProperties, key: str) -> list[str] | None:
        found: str | None = None
        for name, value in carrier:
            if name.lower() == key:
                found = value
        if found is None or len(found) > _MAX_VALUE:
            return None
        return [found]

    def keys(self, carrier: UserProperties) -> list[str]:
        return list(dict.fromkeys(name.lower() for name, _ in carrier))


class _PropertySetter(Setter[list[tuple[str, str]]]):
    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key, value))


_GETTER: Final = _PropertyGetter()
_SETTER: Final = _PropertySetter()


def extract(user_properties: UserProperties, context: Context | None = None) -> Context:
    """``context`` (default: an empty one) with the remote span the properties name, if
    valid; otherwise ``context`` unchanged. Never raises on any property list."""
    return _PROPAGATOR.extract(user_properties, context=context or Context(), getter=_GETTER)


def inject(context: Context | None = None) -> tuple[tuple[str, str], ...]:
    """The ``traceparent`` (and, when non-empty, ``tracestate``) properties naming the
    span of ``context`` (default: the current one); empty when it has no valid span."""
    if not get_current_span(context).get_span_context().is_valid:
        return ()
    carrier: list[tuple[str, str]] = []
    _PROPAGATOR.inject(carrier, context=context, setter=_SETTER)
    return tuple(carrier)


def without_trace_context(user_properties: Iterable[tuple[str, str]]
                          ) -> tuple[tuple[str, str], ...]:
    """The properties minus every ``traceparent``/``tracestate`` (any case)."""
    return tuple((k, v) for k, v in user_properties if k.lower() not in _NAMES)


def with_trace_context(user_properties: Iterable[tuple[str, str]],
                       context: Context | None = None) -> tuple[tuple[str, str], ...]:
    """The properties with their trace context replaced by that of ``context``."""
    return without_trace_context(user_properties) + inject(context)
