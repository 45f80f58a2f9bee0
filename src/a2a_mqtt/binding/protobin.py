"""Binary protobuf payloads of the binding (docs/binding.md §3.4): encode and decode, no I/O.

An optional encoding beside JSON-RPC: the payload is the serialized A2A 1.0
protobuf message the gRPC binding carries (``lf.a2a.v1``, a2a-sdk's types),
Content Type ``application/protobuf``, Payload Format Indicator 0. A binary
request has no envelope: its method is the ``a2a-method`` User Property and it
is correlated by Correlation Data alone (its JSON-RPC id is null). A binary
reply is the method's response message; errors stay JSON-RPC error objects.

What decodes here is what the JSON path accepts for the same request, and is
refused with the same JSON-RPC code: the input is checked for what JSON could
not carry (U+0000 in a string: -32602; a non-finite number or nesting past the
JSON limit: -32700) before anything runs. Undecodable bytes (truncated, wrong
wire types, invalid UTF-8 in a string, nested past upb's limit of 100 message
levels, which free-form JSON reaches at about 31 levels) are -32700: a requester
then sends the request again as JSON, so the caller gets the JSON path's verdict.
Unknown fields are dropped, as the JSON reader ignores unknown members.
"""

from __future__ import annotations

import re
from typing import Final

from a2a.types.a2a_pb2 import (
    AgentCard,
    ListTaskPushNotificationConfigsResponse,
    ListTasksResponse,
    SendMessageResponse,
    StreamResponse,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)
from google.protobuf.empty_pb2 import Empty
from google.protobuf.json_format import MessageToDict, SerializeToJsonError
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from a2a_mqtt.binding.envelope import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    METHODS,
    PARSE_ERROR,
)
from a2a_mqtt.binding.jsontext import MAX_DEPTH, value_problem
from a2a_mqtt.binding.properties import CONTENT_TYPE_PROTOBUF
from a2a_mqtt.binding.stream import FINAL_STATES, TERMINAL_STATES
from a2a_mqtt.errors import RemoteProtocolError

__all__ = [
    "CONTENT_TYPE",
    "RESULT_TYPES",
    "accepts",
    "decode_request",
    "decode_result",
    "encode",
    "is_protobuf",
    "item_ends",
    "result_fit",
    "task_named",
]

CONTENT_TYPE: Final = CONTENT_TYPE_PROTOBUF
"""The Content Type of a binary payload (IANA ``application/protobuf``)."""

# A2A 1.0 operation -> the message of its binary reply (a2a.proto's service).
RESULT_TYPES: Final[dict[str, type[ProtoMessage]]] = {
    "SendMessage": SendMessageResponse,
    "SendStreamingMessage": StreamResponse,
    "GetTask": Task,
    "ListTasks": ListTasksResponse,
    "CancelTask": Task,
    "SubscribeToTask": StreamResponse,
    "CreateTaskPushNotificationConfig": TaskPushNotificationConfig,
    "GetTaskPushNotificationConfig": TaskPushNotificationConfig,
    "ListTaskPushNotificationConfigs": ListTaskPushNotificationConfigsResponse,
    "DeleteTaskPushNotificationConfig": Empty,
    "GetExtendedAgentCard": AgentCard,
}

# The JSON limit counts the envelope and ``params`` (or ``result``) themselves.
_BODY_DEPTH: Final = MAX_DEPTH - 1
# stream.py's state sets (names), as the enum values a StreamResponse carries.
_FINAL: Final = frozenset(TaskState.Value(name) for name in FINAL_STATES)
_TERMINAL: Final = frozenset(TaskState.Value(name) for name in TERMINAL_STATES)
# Where a request names its task (pooling.worker_of routes by it).
_TASK_FIELD: Final = {"GetTask": "id", "CancelTask": "id", "SubscribeToTask": "id",
                      "CreateTaskPushNotificationConfig": "task_id",
                      "GetTaskPushNotificationConfig": "task_id",
                      "ListTaskPushNotificationConfigs": "task_id",
                      "DeleteTaskPushNotificationConfig": "task_id"}


def is_protobuf(content_type: str | None) -> bool:
    """True if a Content Type names a binary payload (parameters and case ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def accepts(value: str | None) -> bool:
    """True if an ``a2a-accept`` value (comma-separated media types) lists binary."""
    if not value:
        return False
    return any(is_protobuf(item) for item in value.split(","))


def encode(message: ProtoMessage) -> bytes:
    """A binary payload: the message's wire form (deterministic: equal messages, equal
    bytes, so the requester's duplicate filter sees a redelivery as one)."""
    return message.SerializeToString(deterministic=True)


# A non-finite double in the payload: Value.number_value (field 2, wire type 1: tag 0x11;
# a2a.proto has no other float or double field) whose 8 little-endian bytes have every
# exponent bit set. A message holding one has these bytes in its wire form.
_NON_FINITE: Final = re.compile(rb"\x11[\x00-\xff]{6}[\xf0-\xff][\x7f\xff]", re.DOTALL)


def _problem(message: ProtoMessage, payload: bytes, *, allow_nul: bool,
             max_depth: int) -> str | None:
    """What JSON could not carry in ``message`` (decoded from ``payload``), or None.

    Slow (its ProtoJSON is built and walked) only when the bytes allow a problem: a
    string holds U+0000 only if the payload has a zero byte, a number is non-finite
    only if :data:`_NON_FINITE` matches. Nesting needs no gate: upb reads at most 100
    message levels, and each level of free-form JSON costs two or three, so whatever
    decoded is within the JSON limit (``max_depth`` is checked on the slow path)."""
    if (allow_nul or b"\x00" not in payload) and _NON_FINITE.search(payload) is None:
        return None
    try:
        as_json = MessageToDict(message)
    except SerializeToJsonError as exc:
        return f"holds a value JSON cannot carry ({exc})"
    return value_problem(as_json, max_depth=max_depth, allow_nul=allow_nul)


def decode_request(method: str | None, payload: bytes, *,
                   max_bytes: int | None = None) -> tuple[str, ProtoMessage]:
    """``(method, params)`` of a binary request; RemoteProtocolError carries the
    JSON-RPC code to answer with (its ``data``, the id, is always None)."""
    if max_bytes is not None and len(payload) > max_bytes:
        raise RemoteProtocolError(
            f"payload too large: {len(payload)} bytes exceeds the limit of {max_bytes}",
            code=INVALID_REQUEST)
    if not method:
        raise RemoteProtocolError("invalid request: a binary request needs the a2a-method "
                                  "User Property", code=INVALID_REQUEST)
    model = METHODS.get(method)
    if model is None:
        raise RemoteProtocolError(f"method not found: {method[:100]}", code=METHOD_NOT_FOUND)
    params = model()
    try:
        params.ParseFromString(payload)
    except DecodeError as exc:
        raise RemoteProtocolError(f"parse error: payload is not a binary {model.__name__} "
                                  f"({exc})", code=PARSE_ERROR) from None
    params.DiscardUnknownFields()
    # The JSON path's order: nesting and non-finite numbers (-32700) before strings.
    problem = _problem(params, payload, allow_nul=True, max_depth=_BODY_DEPTH)
    if problem is not None:
        raise RemoteProtocolError(f"parse error: params {problem}", code=PARSE_ERROR)
    problem = _problem(params, payload, allow_nul=False, max_depth=1 << 30)
    if problem is not None:
        raise RemoteProtocolError(f"invalid params: params.{problem}", code=INVALID_PARAMS)
    return method, params


def result_fit(message: ProtoMessage, payload: bytes) -> str:
    """How a result (``payload``, its binary form) can go out: ``"binary"``; ``"json"``
    when a binary reader would refuse it (free-form JSON nested past upb's limit of 100
    message levels, about 31 levels of JSON objects); ``"none"`` when JSON cannot carry
    it either (a non-finite number: the responder answers -32603, as its JSON encoder
    fails on it)."""
    if _NON_FINITE.search(payload) is not None:
        try:
            MessageToDict(message)
        except SerializeToJsonError:
            return "none"
    try:
        # What the requester will do: about a microsecond for a task (upb, in C).
        type(message).FromString(payload)
    except DecodeError:
        return "json"
    return "binary"


def decode_result(method: str, payload: bytes) -> ProtoMessage:
    """A binary reply to ``method``: its response message. Raises RemoteProtocolError
    for what the JSON reader refuses in a reply (undecodable; U+0000 or a lone
    surrogate in a string; nesting past the JSON limit)."""
    model = RESULT_TYPES.get(method)
    if model is None:
        raise RemoteProtocolError(f"malformed reply: no binary result for {method[:100]}")
    result = model()
    try:
        result.ParseFromString(payload)
    except DecodeError as exc:
        raise RemoteProtocolError(f"malformed reply: not a binary {model.__name__} ({exc})",
                                  code=PARSE_ERROR) from None
    result.DiscardUnknownFields()
    problem = _problem(result, payload, allow_nul=False, max_depth=_BODY_DEPTH)
    if problem is not None:
        raise RemoteProtocolError(f"malformed reply: {problem}", code=PARSE_ERROR)
    return result


def item_ends(item: StreamResponse, *, until_terminal: bool = False) -> bool:
    """:func:`a2a_mqtt.binding.stream.is_final_result` (or ``is_terminal_result`` with
    ``until_terminal``) for a StreamResponse message."""
    kind = item.WhichOneof("payload")
    if kind == "message":
        return True
    if kind == "status_update":
        state = item.status_update.status.state
    elif kind == "task":
        state = item.task.status.state
    else:
        return False
    return state in (_TERMINAL if until_terminal else _FINAL)


def task_named(method: str | None, payload: bytes) -> str | None:
    """The Task.id a binary request names, or None (as envelope.task_named for JSON)."""
    model = METHODS.get(method or "")
    if model is None or method in ("ListTasks", "GetExtendedAgentCard"):
        return None
    params = model()
    try:
        params.ParseFromString(payload)
    except DecodeError:
        return None
    if method in ("SendMessage", "SendStreamingMessage"):
        task_id: str = params.message.task_id  # type: ignore[attr-defined]
    else:
        task_id = getattr(params, _TASK_FIELD[method])  # type: ignore[index]
    return task_id or None
