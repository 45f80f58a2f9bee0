"""Payloads and properties of MCP over MQTT. Pure: no I/O.

* every PUBLISH carries ``MCP-COMPONENT-TYPE`` and ``MCP-MQTT-CLIENT-ID``;
* CONNECT carries ``MCP-COMPONENT-TYPE`` and ``MCP-META`` (a JSON object);
* a broker's CONNACK may carry ``MCP-SERVER-NAME`` (servers),
  ``MCP-SERVER-NAME-FILTERS`` and ``MCP-RBAC`` (clients): :func:`connack_hints`;
* presence: a retained ``notifications/server/online``; an empty retained
  payload means the instance is gone;
* ``notifications/disconnected`` ends one session (RPC topic) or a client
  (its presence topic, also its Will).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import mcp_types
from pydantic import ValidationError

from a2a_mqtt.mqtt_types import PublishProperties

__all__ = [
    "CAPABILITY_METHODS",
    "COMPONENT_TYPE",
    "DISCONNECTED",
    "META",
    "MQTT_CLIENT_ID",
    "RPC_TIMEOUTS",
    "ComponentType",
    "ConnackHints",
    "DecodeFailure",
    "ServerOnline",
    "connack_hints",
    "connect_properties",
    "decode_message",
    "decode_online",
    "disconnected_payload",
    "encode_message",
    "error_payload",
    "is_disconnected",
    "online_payload",
    "publish_properties",
]

COMPONENT_TYPE = "MCP-COMPONENT-TYPE"
MQTT_CLIENT_ID = "MCP-MQTT-CLIENT-ID"
META = "MCP-META"
SERVER_NAME_HINT = "MCP-SERVER-NAME"
SERVER_NAME_FILTERS_HINT = "MCP-SERVER-NAME-FILTERS"
RBAC_HINT = "MCP-RBAC"
DISCONNECTED = "notifications/disconnected"
ONLINE = "notifications/server/online"

ComponentType = Literal["mcp-client", "mcp-server"]

# Server notifications that go to the capability topic instead of the RPC topic.
CAPABILITY_METHODS = frozenset({
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/updated",
})
CLIENT_CAPABILITY_METHODS = frozenset({"notifications/roots/list_changed"})

# The spec's recommended request timeouts, seconds; anything unlisted gets 30.
RPC_TIMEOUTS: dict[str, float] = {
    "initialize": 30.0, "ping": 10.0, "sampling/createMessage": 60.0,
    "tools/call": 60.0, "completion/complete": 60.0,
}


def publish_properties(component: ComponentType, client_id: str) -> PublishProperties:
    """The two user properties every MCP PUBLISH carries (JSON payload, UTF-8)."""
    return PublishProperties(
        payload_format_utf8=True,
        content_type="application/json",
        user_properties=((COMPONENT_TYPE, component), (MQTT_CLIENT_ID, client_id)),
    )


def connect_properties(
    component: ComponentType, meta: dict[str, Any]
) -> tuple[tuple[str, str], ...]:
    """CONNECT user properties: the component type and its metadata as compact JSON."""
    return ((COMPONENT_TYPE, component), (META, json.dumps(meta, separators=(",", ":"))))


@dataclass(frozen=True, slots=True)
class ConnackHints:
    """What a broker suggested in CONNACK; empty fields mean it suggested nothing."""

    server_name: str | None = None
    server_name_filters: tuple[str, ...] = ()
    rbac: tuple[tuple[str, str], ...] = ()  # (server_name, role_name)


def connack_hints(user_properties: tuple[tuple[str, str], ...]) -> ConnackHints:
    """Read the MCP hints from CONNACK user properties; malformed values are ignored."""
    name: str | None = None
    filters: tuple[str, ...] = ()
    rbac: tuple[tuple[str, str], ...] = ()
    for key, value in user_properties:
        upper = key.upper()
        if upper == SERVER_NAME_HINT and value:
            name = value
        elif upper == SERVER_NAME_FILTERS_HINT:
            parsed = _loads(value)
            if isinstance(parsed, list) and all(isinstance(f, str) and f for f in parsed):
                filters = tuple(parsed)
        elif upper == RBAC_HINT:
            parsed = _loads(value)
            if isinstance(parsed, list):
                rbac = tuple(
                    (str(e["server_name"]), str(e["role_name"])) for e in parsed
                    if isinstance(e, dict) and "server_name" in e and "role_name" in e
                )
    return ConnackHints(server_name=name, server_name_filters=filters, rbac=rbac)


@dataclass(frozen=True, slots=True)
class ServerOnline:
    """The presence announcement of one server instance."""

    server_id: str
    server_name: str
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def online_payload(server_name: str, description: str, meta: dict[str, Any]) -> bytes:
    params: dict[str, Any] = {"server_name": server_name, "description": description}
    if meta:
        params["meta"] = meta
    return json.dumps({"jsonrpc": "2.0", "method": ONLINE, "params": params},
                      separators=(",", ":")).encode()


def decode_online(server_id: str, topic_name: str, payload: bytes) -> ServerOnline | None:
    """The announcement in a presence payload; ``None`` for anything else.

    The topic's server name wins over ``params.server_name`` (EMQX's fork omits
    the latter; a mismatch is the sender's bug and the topic is what routes).
    """
    doc = _loads(payload)
    if not isinstance(doc, dict) or doc.get("method") != ONLINE:
        return None
    params = doc.get("params")
    params = params if isinstance(params, dict) else {}
    description = params.get("description")
    meta = params.get("meta")
    return ServerOnline(
        server_id=server_id,
        server_name=topic_name,
        description=description if isinstance(description, str) else "",
        meta=meta if isinstance(meta, dict) else {},
    )


def is_disconnect_message(message: mcp_types.JSONRPCMessage) -> bool:
    return isinstance(message, mcp_types.JSONRPCNotification) and message.method == DISCONNECTED


def disconnected_payload() -> bytes:
    return b'{"jsonrpc":"2.0","method":"notifications/disconnected"}'


def is_disconnected(payload: bytes) -> bool:
    doc = _loads(payload)
    return isinstance(doc, dict) and doc.get("method") == DISCONNECTED and "id" not in doc


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why a payload is not a JSON-RPC message, and the reply it deserves.

    ``request_id`` is set when the payload was JSON with a usable ``id``;
    ``answerable`` is false for things that must not be answered (a malformed
    notification or response: JSON-RPC never replies to those).
    """

    code: int
    message: str
    request_id: str | int | None
    answerable: bool


def decode_message(payload: bytes, *, max_bytes: int) -> mcp_types.JSONRPCMessage | DecodeFailure:
    """One JSON-RPC message from a payload, or the failure and the error it earns."""
    if len(payload) > max_bytes:
        return DecodeFailure(mcp_types.INVALID_REQUEST,
                             f"message of {len(payload)} bytes exceeds {max_bytes}", None, True)
    try:
        return mcp_types.jsonrpc_message_adapter.validate_json(payload, by_name=False)
    except ValidationError:
        pass
    doc = _loads(payload)
    if doc is _NOT_JSON:
        return DecodeFailure(mcp_types.PARSE_ERROR, "Parse error", None, True)
    request_id = doc.get("id") if isinstance(doc, dict) else None
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool):
        request_id = None
    is_call = isinstance(doc, dict) and "method" in doc
    answerable = not isinstance(doc, dict) or (is_call and request_id is not None) or (
        "method" not in doc and "result" not in doc and "error" not in doc)
    return DecodeFailure(mcp_types.INVALID_REQUEST, "Invalid Request", request_id, answerable)


def encode_message(message: mcp_types.JSONRPCMessage) -> bytes:
    return message.model_dump_json(by_alias=True, exclude_unset=True).encode()


def error_payload(request_id: str | int | None, code: int, message: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id,
                       "error": {"code": code, "message": message}},
                      separators=(",", ":")).encode()


_NOT_JSON: Any = object()


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _NOT_JSON
