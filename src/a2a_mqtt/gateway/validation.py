"""Reading request bodies before a2a-sdk does: every malformed body is a client error.

a2a-sdk's dispatchers turn some malformed bodies into 500s or plain-text
answers: a body that is not UTF-8, JSON nested deeper than Python recurses,
a lone surrogate in a JSON-RPC ``id`` (the error reply cannot be encoded).
The gateway therefore reads each body here first, with the same rules for
both bindings, and refuses what it cannot accept with a
:class:`MalformedRequest` that names the standard A2A error:

* the body must be UTF-8 JSON (RFC 8259): no BOM, no ``NaN``/``Infinity``
  (nor numbers that overflow to them), at most :data:`MAX_JSON_DEPTH`
  nested arrays/objects, no lone surrogate in any string or key --
  ``JSONParseError`` (-32700);
* JSON-RPC: one request object (no batch) with no other members than
  ``jsonrpc``, ``id``, ``method`` and ``params``, ``"jsonrpc": "2.0"``, an ``id``
  that is a string, an integer or null, a method name a2a-sdk serves, and
  ``params`` that are an object of the method's request type with its
  required fields -- ``InvalidRequestError`` (-32600),
  ``MethodNotFoundError`` (-32601), ``InvalidParamsError`` (-32602);
* HTTP+JSON: a non-empty body is one object, and a body the route parses
  (``message:send``, ``message:stream``, push configs) is a valid
  instance of the route's request type -- ``InvalidParamsError``.

Everything here is pure: bytes in, a parsed value or an exception out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import SendMessageRequest, TaskPushNotificationConfig
from a2a.utils.errors import (
    A2AError,
    InvalidParamsError,
    InvalidRequestError,
    JSONParseError,
    MethodNotFoundError,
)
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message as ProtoMessage

from a2a_mqtt.binding import jsontext
from a2a_mqtt.binding.envelope import params_shape_problem

__all__ = [
    "JSONRPC_METHODS",
    "MAX_JSON_DEPTH",
    "CheckedRpc",
    "MalformedRequest",
    "check_jsonrpc",
    "check_rest",
    "load_json",
]

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of arrays and objects a body may have (A2A messages need far less)."""

JSONRPC_METHODS: Final[Mapping[str, type[ProtoMessage]]] = JsonRpcDispatcher.METHOD_TO_MODEL
"""The A2A 1.0 methods a2a-sdk's JSON-RPC route serves, with their request types."""

_ENVELOPE: Final = frozenset({"jsonrpc", "id", "method", "params"})
_REST_BODIES: Final[tuple[tuple[str, type[ProtoMessage]], ...]] = (
    ("/message:send", SendMessageRequest),
    ("/message:stream", SendMessageRequest),
    ("/pushNotificationConfigs", TaskPushNotificationConfig),
)


class MalformedRequest(Exception):
    """A request refused before a2a-sdk saw it: the A2A error, and the id to answer with."""

    def __init__(self, error: A2AError, *, request_id: str | int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedRpc:
    """A JSON-RPC request that passed :func:`check_jsonrpc`, as it was decoded.

    ``params`` is the JSON object as the client sent it (``params`` decodes to
    ``request`` without error; unknown members ignored, as the agent ignores
    them); ``request`` is None for a method only a2a-sdk's 0.3 adapter knows.
    """

    id: str | int | None
    method: str
    params: dict[str, Any]
    request: ProtoMessage | None


def load_json(body: bytes) -> Any:
    """The JSON value of ``body``; ``JSONParseError`` if it is not acceptable JSON.

    The binding's strict decoder (``binding.jsontext``) with the gateway's limits:
    :data:`MAX_JSON_DEPTH`, any integer a double holds, and U+0000 left to the
    agent (which answers it with -32602, as it would for an MQTT requester).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONParseError(message=f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = jsontext.loads(text, max_depth=MAX_JSON_DEPTH, int_range=None)
    except ValueError as exc:  # JSONDecodeError, an over-long integer, NaN, overflow, depth
        raise JSONParseError(message=f"the body is not JSON: {exc}") from None
    if jsontext.has_risky_escape(text):
        problem = jsontext.value_problem(value, max_depth=MAX_JSON_DEPTH, allow_nul=True)
        if problem is not None:
            raise JSONParseError(
                message="a string holds a lone surrogate (not Unicode text)")
    return value


def _request_id(data: Any) -> str | int | None:
    rid = data.get("id") if isinstance(data, dict) else None
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        return None
    return rid


def _parse_params(params: Any, model: type[ProtoMessage], *,
                  required: bool = True) -> ProtoMessage:
    # A list or scalar where the type has a message: ParseDict would take it as an
    # empty message; the agent's decoder refuses it, so the gateway does too (-32602).
    problem = params_shape_problem(model, params)
    if problem is not None:
        raise InvalidParamsError(
            message=f"params are not a valid {model.__name__}: {problem}"[:300])
    message = model()
    try:
        ParseDict(params, message, ignore_unknown_fields=True)
    except Exception as exc:  # ParseError, and whatever else protobuf raises on odd values
        raise InvalidParamsError(
            message=f"params are not a valid {model.__name__}: {str(exc)[:200]}") from None
    if required:  # InvalidParamsError naming the missing fields
        validate_proto_required_fields(message)
    return message


def check_jsonrpc(body: bytes, *, any_method: bool = False) -> CheckedRpc:
    """The request in ``body``, or :class:`MalformedRequest` for one a2a-sdk should not see.

    ``any_method`` lets unknown method names through, for a2a-sdk's 0.3
    adapter (it knows the 0.3 names).
    """
    try:
        data = load_json(body)
    except A2AError as error:
        raise MalformedRequest(error) from None
    rid = _request_id(data)
    try:
        request = _check_envelope(data, any_method=any_method)
    except A2AError as error:
        raise MalformedRequest(error, request_id=rid) from None
    return CheckedRpc(id=rid, method=data["method"], params=data.get("params", {}),
                      request=request)


def _check_envelope(data: Any, *, any_method: bool) -> ProtoMessage | None:
    if isinstance(data, list):
        raise InvalidRequestError(message="Batch requests are not supported")
    if not isinstance(data, dict):
        raise InvalidRequestError(message="a JSON-RPC request is a JSON object")
    if data.get("jsonrpc") != "2.0":
        raise InvalidRequestError(message="Invalid request: 'jsonrpc' must be exactly '2.0'")
    extra = data.keys() - _ENVELOPE
    if extra:  # JSON-RPC 2.0 §4 names the members; a2a-sdk's reader refuses others too
        raise InvalidRequestError(
            message=f"Invalid request: unknown members {sorted(extra)[:5]!r}"[:200])
    if "id" in data and data["id"] is not None and _request_id(data) is None:
        raise InvalidRequestError(message="Invalid request: id must be a string, integer, or null")
    method = data.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidRequestError(message="Invalid request: method must be a non-empty string")
    model = JSONRPC_METHODS.get(method)
    if model is None:
        if any_method:
            return None
        raise MethodNotFoundError(message=f"Method not found: {method[:100]!r}")
    params = data.get("params", {})
    if not isinstance(params, dict | list):
        raise InvalidRequestError(message="Invalid request: params must be an object")
    if isinstance(params, list):
        raise InvalidParamsError(message="params must be an object (by name), not an array")
    return _parse_params(params, model)


def check_rest(body: bytes, path: str) -> None:
    """Refuse an HTTP+JSON body a2a-sdk should not see (:class:`MalformedRequest`).

    ``path`` is the route path (below the agent); an empty body is left to
    the route (``:cancel`` and ``:subscribe`` take none).
    """
    if not body.strip():
        return
    try:
        try:
            data = load_json(body)
        except JSONParseError as error:  # HTTP+JSON has no -32700: a2a-sdk says INVALID_REQUEST
            raise InvalidRequestError(message=error.message) from None
        if not isinstance(data, dict):
            raise InvalidParamsError(message="the request body must be a JSON object")
        for suffix, model in _REST_BODIES:
            if path.endswith(suffix):
                # Required fields are the handler's: REST routes fill some from the path.
                _parse_params(data, model, required=False)
                break
    except A2AError as error:
        raise MalformedRequest(error) from None
