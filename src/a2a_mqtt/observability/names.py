"""Every metric name, unit and attribute key a2a-mqtt exports, in one place.

Dashboards, alert rules and docs/observability.md read this module; the code that
records a value imports its name from here, so a rename is one edit and a test
(tests/unit/observability/test_dashboard.py) checks every PromQL query against it.

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

# --- agent (server side), per method -----------------------------------------------------
SERVER_REQUESTS = Instrument(
    "rpc.server.requests", "counter", "{request}",
    "Requests finished, by method, outcome and JSON-RPC error code",
    (AGENT, RPC_SYSTEM, RPC_METHOD, RPC_OUTCOME, ERROR_CODE))
SERVER_DURATION = Instrument(
    "rpc.server.call.duration", "histogram", "s",
    "Time from request arrival to the terminal reply",
    (AGENT, RPC_SYSTEM, RPC_METHOD, RPC_OUTCOME))
SERVER_FIRST_REPLY = Instrument(
    "rpc.server.first_reply.duration", "histogram", "s",
    "Streams: time from request arrival to the first event (a unary reply is only in "
    "rpc.server.call.duration)",
    (AGENT, RPC_SYSTEM, RPC_METHOD))
SERVER_REQUEST_SIZE = Instrument(
    "rpc.server.request.size", "counter", "By",
    "Request payload bytes received", (AGENT, RPC_SYSTEM, RPC_METHOD))
SERVER_RESPONSE_SIZE = Instrument(
    "rpc.server.response.size", "counter", "By",
    "Reply payload bytes sent", (AGENT, RPC_SYSTEM, RPC_METHOD))
SERVER_IN_FLIGHT = Instrument(
    "rpc.server.active_requests", "updown", "{request}",
    "Requests being handled now", (AGENT, RPC_SYSTEM, RPC_METHOD))
SERVER_SLOT_WAIT = Instrument(
    "a2a_mqtt.server.slot_wait.duration", "histogram", "s",
    "Time a request waited for a concurrency slot", (AGENT,))
SERVER_TASKS = Instrument(
    "a2a_mqtt.server.tasks", "counter", "{task}",
    "Task state transitions the agent published, by new state", (AGENT, TASK_STATE))
SERVER_OPEN_STREAMS = Instrument(
    "a2a_mqtt.server.open_streams", "updown", "{stream}",
    "Streaming replies open now", (AGENT,))
SERVER_DEDUP_HITS = Instrument(
    "a2a_mqtt.server.dedup_hits", "counter", "{request}",
    "Requests answered from the duplicate cache instead of running again", (AGENT,))
SERVER_REFUSED = Instrument(
    "a2a_mqtt.server.refused", "counter", "{request}",
    "Requests refused without an answer (Response Topic missing, outside $a2a/v1/reply/ "
    "or invalid), by reason", (AGENT, REASON))
SERVER_CLAIMS = Instrument(
    "a2a_mqtt.server.claims", "counter", "{claim}",
    "Pool claims, by result (won | lost)", (AGENT, CLAIM_RESULT))
SERVER_BROKER_DROPS = Instrument(
    "a2a_mqtt.server.broker_drops", "counter", "{event}",
    "Messages the broker reported dropping ($SYS dropped-messages counter) while the agent "
    "watched", (AGENT, REASON))
SERVER_READY = Instrument(
    "a2a_mqtt.ready", "gauge", "1",
    "1 while connected to the broker and subscribed, else 0", (SERVICE,))

# --- requester (client side) -------------------------------------------------------------
CLIENT_CALLS = Instrument(
    "rpc.client.requests", "counter", "{request}",
    "Calls finished, by method, outcome and error code",
    (RPC_SYSTEM, RPC_METHOD, RPC_OUTCOME, ERROR_CODE))
CLIENT_DURATION = Instrument(
    "rpc.client.call.duration", "histogram", "s",
    "Call latency from publish to terminal reply", (RPC_SYSTEM, RPC_METHOD, RPC_OUTCOME))
CLIENT_TIMEOUTS = Instrument(
    "a2a_mqtt.client.timeouts", "counter", "{request}",
    "Calls that got no reply in time", (RPC_SYSTEM, RPC_METHOD))
CLIENT_RETRIES = Instrument(
    "a2a_mqtt.client.retries", "counter", "{attempt}",
    "Retried attempts (not counting the first)", (RPC_SYSTEM, RPC_METHOD))

# --- transport (MQTT) --------------------------------------------------------------------
TRANSPORT_CONNECTS = Instrument(
    "messaging.client.connects", "counter", "{connect}",
    "Successful broker connections (first and re-)", (MESSAGING_SYSTEM, CLIENT_ID))
TRANSPORT_RECONNECTS = Instrument(
    "messaging.client.reconnects", "counter", "{connect}",
    "Connections after a loss", (MESSAGING_SYSTEM, CLIENT_ID))
TRANSPORT_DISCONNECTS = Instrument(
    "messaging.client.disconnects", "counter", "{event}",
    "Connection losses, by reason", (MESSAGING_SYSTEM, CLIENT_ID, REASON))
TRANSPORT_DISCONNECTED_TIME = Instrument(
    "messaging.client.disconnected.duration", "histogram", "s",
    "Time from losing the broker to being connected again", (MESSAGING_SYSTEM,))
TRANSPORT_PUBLISH_ACK = Instrument(
    "messaging.publish.duration", "histogram", "s",
    "Publish to broker acknowledgement (QoS >= 1)", (MESSAGING_SYSTEM,))
TRANSPORT_QUEUE_DEPTH = Instrument(
    "messaging.client.queue.depth", "updown", "{message}",
    "QoS>0 publishes waiting for their acknowledgement (queued or in flight)",
    (MESSAGING_SYSTEM,))
TRANSPORT_MESSAGES = Instrument(
    "messaging.client.messages", "counter", "{message}",
    "Messages published (out) and delivered (in)", (MESSAGING_SYSTEM, DIRECTION))

# --- registry ----------------------------------------------------------------------------
REGISTRY_CARDS = Instrument(
    "a2a_mqtt.registry.cards", "gauge", "{card}",
    "Cards in the index, by status", (STATUS,))
REGISTRY_REJECTS = Instrument(
    "a2a_mqtt.registry.rejects", "counter", "{card}",
    "Cards refused at ingest, by reason", (REASON,))
REGISTRY_INGESTS = Instrument(
    "a2a_mqtt.registry.ingests", "counter", "{card}",
    "Changes card messages made to the index, by kind (added, updated, online, offline, "
    "removed, rejected)", (REASON,))
REGISTRY_QUERY_DURATION = Instrument(
    "a2a_mqtt.registry.query.duration", "histogram", "s",
    "Time to answer a registry query", ("a2a.query",))
REGISTRY_FEED_SUBSCRIBERS = Instrument(
    "a2a_mqtt.registry.feed.subscribers", "updown", "{subscriber}",
    "Change-feed (SSE) subscribers connected now")

# --- HTTP services (gateway, registry, expose) ------------------------------------------
HTTP_REQUESTS = Instrument(
    "http.server.requests", "counter", "{request}",
    "HTTP requests, by route, method and status", (SERVICE, HTTP_ROUTE, HTTP_METHOD, HTTP_STATUS))
HTTP_DURATION = Instrument(
    "http.server.request.duration", "histogram", "s",
    "HTTP request latency (to the response start for streams)",
    (SERVICE, HTTP_ROUTE, HTTP_METHOD, HTTP_STATUS))
HTTP_OPEN_STREAMS = Instrument(
    "a2a_mqtt.http.open_streams", "updown", "{stream}",
    "Server-sent event streams open now", (SERVICE, HTTP_ROUTE))
GATEWAY_AGENTS = Instrument(
    "a2a_mqtt.gateway.agents", "gauge", "{agent}",
    "Agents the gateway serves now")

ALL: Final[tuple[Instrument, ...]] = tuple(
    v for v in globals().values() if isinstance(v, Instrument))

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
