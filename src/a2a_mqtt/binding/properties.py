"""MQTT 5 properties of the binding: User Property names and service parameters.

Service parameters (A2A §3.2.6: ``A2A-Version``, ``A2A-Extensions``,
``Authorization``, ...) travel as User Properties named ``a2a-`` plus the
lower-cased parameter name; multi-values are comma-joined. Keys are folded to
lower case on read because MQTT keys are case-sensitive and may repeat (the
last occurrence wins). Binding properties (the ``RESERVED`` set) are never
service parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from a2a_mqtt.binding import tracecontext as _tracecontext
from a2a_mqtt.errors import LocalProtocolError
from a2a_mqtt.mqtt_types import PublishProperties

__all__ = [
    "A2A_VERSION",
    "ACCEPT",
    "AUTHORIZATION",
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PROTOBUF",
    "CONTEXT_ID",
    "EXTENSIONS",
    "METHOD",
    "RESERVED",
    "RESPONDER_AGENT_ID",
    "RETRY_AFTER",
    "STATUS",
    "STATUS_SOURCE",
    "STREAM_END",
    "TASK_ID",
    "TRACEPARENT",
    "TRACESTATE",
    "RedactedParameters",
    "is_broker_authoritative",
    "reply_properties",
    "request_properties",
    "service_parameters",
    "service_parameters_to_user_properties",
    "status_of",
    "status_properties",
]

CONTENT_TYPE_JSON: Final = "application/json"
CONTENT_TYPE_PROTOBUF: Final = "application/protobuf"

STATUS: Final = "a2a-status"
STATUS_SOURCE: Final = "a2a-status-source"
AUTHORIZATION: Final = "a2a-authorization"
RESPONDER_AGENT_ID: Final = "a2a-responder-agent-id"
CONTEXT_ID: Final = "a2a-context-id"
TASK_ID: Final = "a2a-task-id"
A2A_VERSION: Final = "a2a-version"
EXTENSIONS: Final = "a2a-extensions"
# Ours (docs/binding.md §6.4): set on the last reply of a correlation.
STREAM_END: Final = "a2a-stream-end"
# The W3C trace context (docs/binding.md §4.5): unprefixed, never service parameters.
TRACEPARENT: Final = _tracecontext.TRACEPARENT
TRACESTATE: Final = _tracecontext.TRACESTATE
# Ours (docs/binding.md §6.6): on a -32004 overload answer, whole seconds to wait
# before retrying. Unprefixed like HTTP's Retry-After; never a service parameter.
RETRY_AFTER: Final = "retry-after"
# Ours (docs/binding.md §3.4): the payload encodings the sender of a message reads
# (on a request: in its replies; on a reply: in later requests), and the method of
# a binary request (it has no JSON-RPC envelope).
ACCEPT: Final = "a2a-accept"
METHOD: Final = "a2a-method"

# Binding properties: never read as service parameters, never forwarded as such.
RESERVED: Final = frozenset({
    STATUS, STATUS_SOURCE, RESPONDER_AGENT_ID, CONTEXT_ID, TASK_ID, STREAM_END,
    "a2a-artifact-mode", "a2a-event-type", "a2a-artifact-id", "a2a-chunk-seqno",
    "a2a-last-chunk", "a2a-security-profile", "a2a-requester-agent-id",
    "a2a-recipient-agent-id", "a2a-recipient-kid", ACCEPT, METHOD,
})
# Unprefixed custom names that would encode onto a standard parameter's property.
_AMBIGUOUS: Final = frozenset({"version", "extensions"})
_BROKER_SOURCES: Final = frozenset({"broker", "emqx"})


def service_parameters_to_user_properties(
    params: Mapping[str, str] | None,
) -> tuple[tuple[str, str], ...]:
    """Encode service parameters as ``a2a-*`` User Properties (keys lower-cased)."""
    if not params:
        return ()
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        name = key.strip().lower()
        if name in _AMBIGUOUS:
            raise LocalProtocolError(
                f"service parameter {key!r} would read back as A2A-{key.strip().title()}; "
                "rename it")
        if not name.startswith("a2a-"):
            name = f"a2a-{name}"
        if name in RESERVED:
            continue
        out.append((name, value))
    return tuple(out)


def service_parameters(user_properties: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Decode service parameters from User Properties, keyed in lower case.

    ``a2a-version`` and ``a2a-extensions`` keep their names (as HTTP headers
    would arrive lower-cased); ``a2a-authorization`` becomes ``authorization``;
    any other ``a2a-x`` becomes ``x``. Repeated keys: the last value wins.
    """
    out: dict[str, str] = {}
    for key, value in user_properties:
        name = key.lower()
        if not name.startswith("a2a-") or name in RESERVED:
            continue
        if name not in (A2A_VERSION, EXTENSIONS):
            name = name[4:]
        out[name] = value
    return out


class RedactedParameters(dict[str, str]):
    """Service parameters whose printed form hides credentials.

    The values stay readable by key; only ``repr``/``str`` (what a debug log of a
    call context prints, a2a-sdk's included) replace secret-looking ones.
    """

    _SECRET_WORDS = ("authorization", "token", "secret", "password", "key", "cookie")

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if any(w in k for w in self._SECRET_WORDS) else v)
                 for k, v in self.items()}
        return repr(shown)

    __str__ = __repr__


def request_properties(
    *,
    response_topic: str,
    correlation_data: bytes,
    service_params: Mapping[str, str] | None = None,
    message_expiry: int | None = None,
    extra: Iterable[tuple[str, str]] = (),
    binary: bool = False,
) -> PublishProperties:
    """Properties of a request PUBLISH (JSON payload, UTF-8, with reply routing;
    ``binary``: a protobuf payload, whose method goes in ``extra``)."""
    return PublishProperties(
        response_topic=response_topic,
        correlation_data=correlation_data,
        content_type=CONTENT_TYPE_PROTOBUF if binary else CONTENT_TYPE_JSON,
        payload_format_utf8=not binary,
        message_expiry_interval=message_expiry,
        user_properties=service_parameters_to_user_properties(service_params) + tuple(extra),
    )


def reply_properties(
    *,
    correlation_data: bytes | None,
    responder_agent_id: str | None = None,
    task_id: str | None = None,
    end: bool = False,
    retry_after: int | None = None,
    binary: bool = False,
    accept: str | None = None,
) -> PublishProperties:
    """Properties of a reply or stream item; Correlation Data echoed unchanged.

    ``binary``: a protobuf payload; ``accept``: the ``a2a-accept`` value saying which
    encodings of later requests the responder reads (docs/binding.md §3.4)."""
    ups: list[tuple[str, str]] = []
    if retry_after is not None:
        ups.append((RETRY_AFTER, str(max(1, retry_after))))
    if responder_agent_id:
        ups.append((RESPONDER_AGENT_ID, responder_agent_id))
    if task_id:
        ups.append((TASK_ID, task_id))
    # Always present on our replies ("false" on every item but the last), so a
    # requester can tell a marker-aware responder from a v0.1 one that sends none.
    ups.append((STREAM_END, "true" if end else "false"))
    if accept:
        ups.append((ACCEPT, accept))
    return PublishProperties(
        correlation_data=correlation_data,
        content_type=CONTENT_TYPE_PROTOBUF if binary else CONTENT_TYPE_JSON,
        payload_format_utf8=not binary,
        user_properties=tuple(ups),
    )


def status_properties(status: str, source: str) -> tuple[tuple[str, str], ...]:
    """The presence User Properties of a card publish or will."""
    return ((STATUS, status), (STATUS_SOURCE, source))


def status_of(props: PublishProperties) -> tuple[str, str]:
    """``(status, source)`` of a card message; a card without status counts as online.

    Unknown status values are reported as ``unknown`` rather than trusted.
    """
    status = (props.user_property(STATUS) or "online").lower()
    source = (props.user_property(STATUS_SOURCE) or "agent").lower()
    if status not in ("online", "offline"):
        status = "unknown"
    return status, source


def is_broker_authoritative(source: str) -> bool:
    """True for status set by the broker itself (``broker``; EMQX says ``emqx``)."""
    return source.lower() in _BROKER_SOURCES
