"""Every metric name, unit and attribute key a2a-mqtt exports, in one place.

Dashboards, alert rules and docs/observability.md read this module; the code that
records a value imports its name from here, so a rename is one edit and a test
(tests/unit/observability/test_dashboard.py) checks every PromQL query against it.
The instruments are one table (``_TABLE``, a row each, in the order of the doc's
tables); the constants (``SERVER_REQUESTS``...) and :data:`ALL` are read from it.

Names follow the OpenTelemetry semantic conventions where one applies:
``rpc.server.*`` / ``rpc.client.*`` with ``rpc.system="a2a"`` and ``rpc.method`` for
calls, ``messaging.*`` for the MQTT transport, ``http.server.*`` for the HTTP
services. Everything else lives under ``a2a_mqtt.*``.

The Prometheus exporter rewrites names: dots become underscores, the unit is
appended (``s`` -> ``_seconds``, ``By`` -> ``_bytes``) and counters gain
``_total``. :func:`prometheus_name` computes that rewrite for tests and docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["counter", "histogram", "updown", "gauge"]


@dataclass(frozen=True, slots=True)
class Instrument:
    """One metric: its OTel name, kind, unit, description and attribute keys."""

    name: str
    kind: Kind
    unit: str
    description: str
    attributes: tuple[str, ...] = ()


# --- attribute keys -------------------------------------------------------------------
RPC_SYSTEM: Final = "rpc.system"  # always "a2a"
RPC_SYSTEM_VALUE: Final = "a2a"
RPC_METHOD: Final = "rpc.method"  # e.g. "SendMessage", "SendStreamingMessage"
RPC_OUTCOME: Final = "a2a.outcome"  # "ok" | "error"
ERROR_CODE: Final = "rpc.jsonrpc.error_code"  # JSON-RPC code as text, "" on success
AGENT: Final = "a2a.agent"  # the agent's id (its topic segment)
TASK_STATE: Final = "a2a.task.state"  # "submitted", "working", "completed", ...
CLAIM_RESULT: Final = "a2a.claim.result"  # "won" | "lost"
DIRECTION: Final = "messaging.direction"  # "in" | "out"
REASON: Final = "a2a.reason"  # free-form, bounded set per instrument
STATUS: Final = "a2a.status"  # registry card status
HTTP_ROUTE: Final = "http.route"
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS: Final = "http.response.status_code"
SERVICE: Final = "a2a.service"  # "agent" | "registry" | "gateway" | "expose"
MESSAGING_SYSTEM: Final = "messaging.system"  # always "mqtt"
CLIENT_ID: Final = "messaging.client.id"  # the MQTT Client ID of the session

# Attribute keys several instruments share, in the order their values are given.
_CALL: Final = (AGENT, RPC_SYSTEM, RPC_METHOD)
_CLIENT_CALL: Final = (RPC_SYSTEM, RPC_METHOD)
_SESSION: Final = (MESSAGING_SYSTEM, CLIENT_ID)
_HTTP: Final = (SERVICE, HTTP_ROUTE, HTTP_METHOD, HTTP_STATUS)

_Row = tuple[str, str, Kind, str, tuple[str, ...], str]

# Every instrument, one row each, in the order of docs/observability.md's tables:
# constant, OTel name, kind, unit, attribute keys; then the description.
_TABLE: Final[tuple[_Row, ...]] = (
    # --- agent (server side), per method
    ("SERVER_REQUESTS", "rpc.server.requests", "counter", "{request}",
     (*_CALL, RPC_OUTCOME, ERROR_CODE),
     "Requests finished, by method, outcome and JSON-RPC error code"),
    ("SERVER_DURATION", "rpc.server.call.duration", "histogram", "s", (*_CALL, RPC_OUTCOME),
     "Time from request arrival to the terminal reply"),
    ("SERVER_FIRST_REPLY", "rpc.server.first_reply.duration", "histogram", "s", _CALL,
     "Streams: time from request arrival to the first event (a unary reply is only in "
     "rpc.server.call.duration)"),
    ("SERVER_REQUEST_SIZE", "rpc.server.request.size", "counter", "By", _CALL,
     "Request payload bytes received"),
    ("SERVER_RESPONSE_SIZE", "rpc.server.response.size", "counter", "By", _CALL,
     "Reply payload bytes sent"),
    ("SERVER_IN_FLIGHT", "rpc.server.active_requests", "updown", "{request}", _CALL,
     "Requests being handled now"),
    ("SERVER_SLOT_WAIT", "a2a_mqtt.server.slot_wait.duration", "histogram", "s", (AGENT,),
     "Time a request waited for a concurrency slot"),
    ("SERVER_TASKS", "a2a_mqtt.server.tasks", "counter", "{task}", (AGENT, TASK_STATE),
     "Task state transitions the agent published, by new state"),
    ("SERVER_OPEN_STREAMS", "a2a_mqtt.server.open_streams", "updown", "{stream}", (AGENT,),
     "Streaming replies open now"),
    ("SERVER_DEDUP_HITS", "a2a_mqtt.server.dedup_hits", "counter", "{request}", (AGENT,),
     "Requests answered from the duplicate cache instead of running again"),
    ("SERVER_REFUSED", "a2a_mqtt.server.refused", "counter", "{request}", (AGENT, REASON),
     "Requests refused without an answer (Response Topic missing, outside $a2a/v1/reply/ "
     "or invalid), by reason"),
    ("SERVER_CLAIMS", "a2a_mqtt.server.claims", "counter", "{claim}", (AGENT, CLAIM_RESULT),
     "Pool claims, by result (won | lost)"),
    ("SERVER_BROKER_DROPS", "a2a_mqtt.server.broker_drops", "counter", "{event}",
     (AGENT, REASON),
     "Messages the broker reported dropping ($SYS dropped-messages counter) while the agent "
     "watched"),
    ("SERVER_READY", "a2a_mqtt.ready", "gauge", "1", (SERVICE,),
     "1 while connected to the broker and subscribed, else 0"),
    # --- requester (client side)
    ("CLIENT_CALLS", "rpc.client.requests", "counter", "{request}",
     (*_CLIENT_CALL, RPC_OUTCOME, ERROR_CODE),
     "Calls finished, by method, outcome and error code"),
    ("CLIENT_DURATION", "rpc.client.call.duration", "histogram", "s",
     (*_CLIENT_CALL, RPC_OUTCOME),
     "Call latency from publish to terminal reply"),
    ("CLIENT_TIMEOUTS", "a2a_mqtt.client.timeouts", "counter", "{request}", _CLIENT_CALL,
     "Calls that got no reply in time"),
    ("CLIENT_RETRIES", "a2a_mqtt.client.retries", "counter", "{attempt}", _CLIENT_CALL,
     "Retried attempts (not counting the first)"),
    # --- transport (MQTT)
    ("TRANSPORT_CONNECTS", "messaging.client.connects", "counter", "{connect}", _SESSION,
     "Successful broker connections (first and re-)"),
    ("TRANSPORT_RECONNECTS", "messaging.client.reconnects", "counter", "{connect}", _SESSION,
     "Connections after a loss"),
    ("TRANSPORT_DISCONNECTS", "messaging.client.disconnects", "counter", "{event}",
     (*_SESSION, REASON),
     "Connection losses, by reason"),
    ("TRANSPORT_DISCONNECTED_TIME", "messaging.client.disconnected.duration", "histogram", "s",
     (MESSAGING_SYSTEM,),
     "Time from losing the broker to being connected again"),
    ("TRANSPORT_PUBLISH_ACK", "messaging.publish.duration", "histogram", "s",
     (MESSAGING_SYSTEM,),
     "Publish to broker acknowledgement (QoS >= 1)"),
    ("TRANSPORT_QUEUE_DEPTH", "messaging.client.queue.depth", "updown", "{message}",
     (MESSAGING_SYSTEM,),
     "QoS>0 publishes waiting for their acknowledgement (queued or in flight)"),
    ("TRANSPORT_MESSAGES", "messaging.client.messages", "counter", "{message}",
     (MESSAGING_SYSTEM, DIRECTION),
     "Messages published (out) and delivered (in)"),
    # --- tracing
    ("TRACE_SPANS_DROPPED", "a2a_mqtt.trace.spans.dropped", "counter", "{span}", (),
     "Finished spans this process dropped before export (the export process fell behind "
     "or is gone); 0 while tracing is off or exports in-process"),
    # --- registry
    ("REGISTRY_CARDS", "a2a_mqtt.registry.cards", "gauge", "{card}", (STATUS,),
     "Cards in the index, by status"),
    ("REGISTRY_REJECTS", "a2a_mqtt.registry.rejects", "counter", "{card}", (REASON,),
     "Cards refused at ingest, by reason"),
    ("REGISTRY_INGESTS", "a2a_mqtt.registry.ingests", "counter", "{card}", (REASON,),
     "Changes card messages made to the index, by kind (added, updated, online, offline, "
     "removed, rejected)"),
    ("REGISTRY_QUERY_DURATION", "a2a_mqtt.registry.query.duration", "histogram", "s",
     ("a2a.query",),
     "Time to answer a registry query"),
    ("REGISTRY_FEED_SUBSCRIBERS", "a2a_mqtt.registry.feed.subscribers", "updown",
     "{subscriber}", (),
     "Change-feed (SSE) subscribers connected now"),
    # --- HTTP services (gateway, registry, expose)
    ("HTTP_REQUESTS", "http.server.requests", "counter", "{request}", _HTTP,
     "HTTP requests, by route, method and status"),
    ("HTTP_DURATION", "http.server.request.duration", "histogram", "s", _HTTP,
     "HTTP request latency (to the response start for streams)"),
    ("HTTP_OPEN_STREAMS", "a2a_mqtt.http.open_streams", "updown", "{stream}",
     (SERVICE, HTTP_ROUTE),
     "Server-sent event streams open now"),
    ("GATEWAY_AGENTS", "a2a_mqtt.gateway.agents", "gauge", "{agent}", (),
     "Agents the gateway serves now"),
)

ALL: Final[tuple[Instrument, ...]] = tuple(
    Instrument(name, kind, unit, description, attributes)
    for _, name, kind, unit, attributes, description in _TABLE)

# The constants, in the table's order; the check below keeps the two in step.
(SERVER_REQUESTS, SERVER_DURATION, SERVER_FIRST_REPLY, SERVER_REQUEST_SIZE,
 SERVER_RESPONSE_SIZE, SERVER_IN_FLIGHT, SERVER_SLOT_WAIT, SERVER_TASKS, SERVER_OPEN_STREAMS,
 SERVER_DEDUP_HITS, SERVER_REFUSED, SERVER_CLAIMS, SERVER_BROKER_DROPS, SERVER_READY,
 CLIENT_CALLS, CLIENT_DURATION, CLIENT_TIMEOUTS, CLIENT_RETRIES,
 TRANSPORT_CONNECTS, TRANSPORT_RECONNECTS, TRANSPORT_DISCONNECTS, TRANSPORT_DISCONNECTED_TIME,
 TRANSPORT_PUBLISH_ACK, TRANSPORT_QUEUE_DEPTH, TRANSPORT_MESSAGES, TRACE_SPANS_DROPPED,
 REGISTRY_CARDS, REGISTRY_REJECTS, REGISTRY_INGESTS, REGISTRY_QUERY_DURATION,
 REGISTRY_FEED_SUBSCRIBERS,
 HTTP_REQUESTS, HTTP_DURATION, HTTP_OPEN_STREAMS, GATEWAY_AGENTS) = ALL
if any(globals()[row[0]] is not inst for row, inst in zip(_TABLE, ALL, strict=True)):
    raise ImportError("names.py: the constants are not in _TABLE's order")

_UNIT_SUFFIX: Final = {"s": "seconds", "By": "bytes"}


def prometheus_name(instrument: Instrument) -> str:
    """The family name the OTel Prometheus exporter gives ``instrument`` (without
    ``_bucket``/``_count``/``_sum``). Units in braces are annotations and vanish."""
    base = instrument.name.replace(".", "_")
    suffix = _UNIT_SUFFIX.get(instrument.unit)
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    if instrument.kind == "counter":
        base += "_total"
    return base


def prometheus_label(attribute: str) -> str:
    """The label name the Prometheus exporter gives attribute key ``attribute``
    (``a2a.agent`` -> ``a2a_agent``): every character outside ``[A-Za-z0-9_]`` becomes
    ``_``, as in the exporter's sanitizer."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in attribute)
