"""JSON-RPC 2.0 envelopes of the binding: parse and build, no I/O.

A request payload is one JSON-RPC 2.0 request object whose ``method`` is an
A2A 1.0 operation name and whose ``params`` is the ProtoJSON request message.
A reply payload is one JSON-RPC response object echoing the request ``id``.
Parsing failures raise :class:`RemoteProtocolError` carrying the JSON-RPC code
the responder answers with.

Only what every later stage can represent gets through (see
:mod:`a2a_mqtt.binding.jsontext`). Syntax and representability problems
outside ``params`` are -32700; inside ``params`` they are -32602 with the id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message as ProtoMessage

from a2a_mqtt.binding.jsontext import UnrepresentableError, has_risky_escape, loads, value_problem
from a2a_mqtt.errors import RemoteProtocolError

__all__ = [
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHODS",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "STREAMING_METHODS",
    "RpcRequest",
    "RpcResponse",
    "dumps",
    "encode_error",
    "encode_request",
    "encode_result",
    "params_shape_problem",
    "parse_params",
    "parse_request",
    "parse_response",
    "task_named",
]

# A2A 1.0 operation -> the proto message its params decode into.
METHODS: Final[dict[str, type[ProtoMessage]]] = {
    "SendMessage": SendMessageRequest,
    "SendStreamingMessage": SendMessageRequest,
    "GetTask": GetTaskRequest,
    "ListTasks": ListTasksRequest,
    "CancelTask": CancelTaskRequest,
    "SubscribeToTask": SubscribeToTaskRequest,
    "CreateTaskPushNotificationConfig": TaskPushNotificationConfig,
    "GetTaskPushNotificationConfig": GetTaskPushNotificationConfigRequest,
    "ListTaskPushNotificationConfigs": ListTaskPushNotificationConfigsRequest,
    "DeleteTaskPushNotificationConfig": DeleteTaskPushNotificationConfigRequest,
    "GetExtendedAgentCard": GetExtendedAgentCardRequest,
}
STREAMING_METHODS: Final = frozenset({"SendStreamingMessage", "SubscribeToTask"})
# Where a request names its task: (the member of ``params`` holding it, or None for
# ``params`` itself; its field, camelCase first: ProtoJSON accepts the proto name too).
_TASK_ID: Final = ("taskId", "task_id")
_TASK_NAMED_BY: Final[dict[str, tuple[str | None, tuple[str, ...]]]] = {
    "SendMessage": ("message", _TASK_ID),
    "SendStreamingMessage": ("message", _TASK_ID),
    "GetTask": (None, ("id",)),
    "CancelTask": (None, ("id",)),
    "SubscribeToTask": (None, ("id",)),
    "CreateTaskPushNotificationConfig": (None, _TASK_ID),
    "GetTaskPushNotificationConfig": (None, _TASK_ID),
    "ListTaskPushNotificationConfigs": (None, _TASK_ID),
    "DeleteTaskPushNotificationConfig": (None, _TASK_ID),
}

# JSON-RPC 2.0's own codes, for every payload encoding (protobin.py, client/replies.py).
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602

RpcId = str | int | None

def task_named(payload: bytes) -> str | None:
    """The Task.id a request payload names (SendMessage's ``message.taskId``, GetTask's
    ``id``, a push config's ``taskId``, ...), or None: ListTasks, the extended card, or
    a payload that is not a readable request (its parse error is :func:`parse_request`'s
    to report). A peek for routing only: nothing is validated."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    method, holder = body.get("method"), body.get("params")
    where = _TASK_NAMED_BY.get(method) if isinstance(method, str) else None
    if where is None:
        return None
    member, names = where
    if member is not None and isinstance(holder, dict):
        holder = holder.get(member)
    if not isinstance(holder, dict):
        return None
    for name in names:
        value = holder.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the only encoding the binding sends."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class RpcRequest:
    """A validated JSON-RPC request: the method is one of :data:`METHODS`."""

    id: RpcId
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RpcResponse:
    """A JSON-RPC response: exactly one of ``result`` (possibly None) or ``error`` is meaningful."""

    id: RpcId
    result: Any = None
    error: dict[str, Any] | None = None


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def parse_request(payload: bytes, *, max_bytes: int | None = None) -> RpcRequest:
    """Decode a request payload; the error's ``data`` holds the id when one was readable."""
    if max_bytes is not None and len(payload) > max_bytes:
        raise RemoteProtocolError(
            f"payload too large: {len(payload)} bytes exceeds the limit of {max_bytes}",
            code=INVALID_REQUEST)
    try:
        text = payload.decode("utf-8")
        body = loads(text)
    except UnrepresentableError as exc:
        raise RemoteProtocolError(f"parse error: {exc}", code=PARSE_ERROR) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(f"parse error: payload is not UTF-8 JSON ({exc})",
                                  code=PARSE_ERROR) from None
    if not isinstance(body, dict):
        raise RemoteProtocolError("invalid request: batch or non-object JSON-RPC payloads "
                                  "are not supported", code=INVALID_REQUEST)
    if has_risky_escape(text):
        _check_strings(body)
    rid = body.get("id")
    rid = rid if _valid_id(rid) else None
    if body.get("jsonrpc") != "2.0":
        raise RemoteProtocolError("invalid request: 'jsonrpc' must be exactly '2.0'",
                                  code=INVALID_REQUEST, data=rid)
    if not _valid_id(body.get("id")):
        raise RemoteProtocolError("invalid request: id must be a string, integer or null",
                                  code=INVALID_REQUEST, data=None)
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise RemoteProtocolError("invalid request: 'method' must be a non-empty string",
                                  code=INVALID_REQUEST, data=rid)
    if method not in METHODS:
        raise RemoteProtocolError(f"method not found: {method}", code=METHOD_NOT_FOUND,
                                  data=rid)
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise RemoteProtocolError("invalid params: 'params' must be an object",
                                  code=INVALID_PARAMS, data=rid)
    return RpcRequest(id=rid, method=method, params=params)


def _check_strings(body: dict[str, Any]) -> None:
    """Refuse strings that cannot be encoded or stored: -32602 in params, else -32700."""
    outside = {k: v for k, v in body.items() if k != "params"}
    problem = value_problem(outside)
    if problem is not None:
        raise RemoteProtocolError(f"parse error: {problem}", code=PARSE_ERROR)
    problem = value_problem(body.get("params"))
    if problem is not None:
        rid = body.get("id")
        raise RemoteProtocolError(
            f"invalid params: params.{problem}",
            code=INVALID_PARAMS, data=rid if _valid_id(rid) else None)


def parse_params(request: RpcRequest) -> ProtoMessage:
    """Decode ``params`` into the method's proto request (unknown fields ignored)."""
    message = METHODS[request.method]()
    problem = _shape_problem(message.DESCRIPTOR, request.params, "params")  # type: ignore[arg-type]
    if problem is not None:
        raise RemoteProtocolError(f"invalid params for {request.method}: {problem}",
                                  code=INVALID_PARAMS, data=request.id)
    try:
        ParseDict(request.params, message, ignore_unknown_fields=True)
    except Exception as exc:  # ParseError, TypeError, ValueError from nested values
        raise RemoteProtocolError(f"invalid params for {request.method}: {exc}",
                                  code=INVALID_PARAMS, data=request.id) from exc
    return message


@cache
def _message_fields(descriptor: Descriptor) -> dict[str, tuple[Descriptor, bool]]:
    """The keys of ``descriptor``'s JSON object whose values must be objects (or lists of
    objects): key -> (the sub-message type, repeated). Keys match a field's camelCase
    name first, then its proto name, as ProtoJSON reads them; well-known types and map
    entries are ProtoJSON's business and left out."""
    by_key: dict[str, FieldDescriptor] = dict(descriptor.fields_by_name)
    by_key.update(descriptor.fields_by_camelcase_name)
    out: dict[str, tuple[Descriptor, bool]] = {}
    for key, field in by_key.items():
        sub = field.message_type
        if sub is None or sub.full_name.startswith("google.protobuf.") or (
                sub.GetOptions().map_entry):
            continue
        out[key] = (sub, field.is_repeated)
    return out


def _shape_problem(descriptor: Descriptor, value: Any, path: str) -> str | None:
    """Where ``value`` has a list or scalar for a message field (or vice versa).

    ``ParseDict(ignore_unknown_fields=True)`` treats a string or list given for
    a message field as a bag of unknown keys and accepts it as an empty
    message; this walk rejects such shapes before decoding. Unknown keys stay
    allowed (forward compatibility); well-known types are ProtoJSON's business.
    """
    if not isinstance(value, dict):
        return f"{path} must be an object"
    fields = _message_fields(descriptor)
    for key, item in value.items():
        found = fields.get(key)
        if found is None or item is None:
            continue
        sub, repeated = found
        if repeated and not isinstance(item, list):
            return f"{path}.{key} must be an array"
        items = item if repeated else [item]
        for index, element in enumerate(items):
            where = f"{path}.{key}[{index}]" if repeated else f"{path}.{key}"
            problem = _shape_problem(sub, element, where)
            if problem is not None:
                return problem
    return None


def params_shape_problem(model: type[ProtoMessage], params: Any) -> str | None:
    """Where ``params`` has a list or scalar for a message field of ``model`` (or is not
    an object); None when its shape fits. The check :func:`parse_params` runs, for a
    layer (the gateway) that refuses such params before they travel."""
    return _shape_problem(model.DESCRIPTOR, params, "params")  # type: ignore[arg-type]


def encode_request(method: str, params: dict[str, Any], request_id: RpcId) -> bytes:
    """A request payload."""
    return dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def encode_result(request_id: RpcId, result: Any) -> bytes:
    """A success reply payload."""
    return dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def encode_error(request_id: RpcId, error: dict[str, Any]) -> bytes:
    """An error reply payload; ``error`` comes from :mod:`a2a_mqtt.binding.codes`."""
    return dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


def parse_response(payload: bytes) -> RpcResponse:
    """Decode a reply payload, raising RemoteProtocolError for anything malformed."""
    try:
        text = payload.decode("utf-8")
        body = loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(f"malformed reply: not UTF-8 JSON ({exc})",
                                  code=PARSE_ERROR) from None
    problem = value_problem(body) if has_risky_escape(text) else None
    if problem is not None:
        raise RemoteProtocolError(f"malformed reply: {problem}", code=PARSE_ERROR)
    if not isinstance(body, dict):
        raise RemoteProtocolError("malformed reply: not a JSON-RPC response object")
    rid = body.get("id")
    if "error" in body and body["error"] is not None:
        error = body["error"]
        if not isinstance(error, dict):
            raise RemoteProtocolError(f"malformed reply: error is not an object: {error!r}")
        return RpcResponse(id=rid if _valid_id(rid) else None, error=error)
    if "result" not in body:
        raise RemoteProtocolError("malformed reply: neither 'result' nor 'error'")
    return RpcResponse(id=rid if _valid_id(rid) else None, result=body["result"])
