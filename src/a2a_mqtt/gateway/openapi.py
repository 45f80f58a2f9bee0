"""The gateway's HTTP surface as an OpenAPI 3.1 document (served at ``GET /openapi.json``).

It describes what the gateway serves for every agent -- the card, the
JSON-RPC endpoint and the HTTP+JSON routes a2a-sdk's route factories provide
-- with A2A's request shapes reduced to what clients send (ProtoJSON names,
``additionalProperties`` allowed as ProtoJSON ignores unknown fields). The
normative definitions stay A2A's ``a2a.proto``; this document exists so that
generic HTTP tooling (schemathesis in the test suite, client generators) can
reach the gateway. Pool paths (``/{org}/{unit}/pool/{pool}/...``) take the
same operations and are not repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from a2a_mqtt.gateway.validation import JSONRPC_METHODS

__all__ = ["openapi_document"]

_JSON: Final = "application/json"
_SSE: Final = "text/event-stream"
_AGENT: Final = "/{org}/{unit}/{agent}"
_REF_PARAMS: Final = [
    {"name": n, "in": "path", "required": True,
     "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$", "minLength": 1}}
    for n in ("org", "unit", "agent")]
_VERSION: Final = {"name": "A2A-Version", "in": "header", "required": True,
                   "schema": {"type": "string", "enum": ["1.0"]}}
_TASK_ID: Final = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_STATES: Final = ["TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "TASK_STATE_COMPLETED",
                  "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_INPUT_REQUIRED",
                  "TASK_STATE_REJECTED", "TASK_STATE_AUTH_REQUIRED"]

_SCHEMAS: Final[dict[str, Any]] = {
    "Part": {"type": "object", "properties": {
        "text": {"type": "string"}, "data": {}, "url": {"type": "string"},
        "raw": {"type": "string", "contentEncoding": "base64"},
        "mediaType": {"type": "string"}, "filename": {"type": "string"},
        "metadata": {"type": "object"}}},
    "Message": {"type": "object", "required": ["messageId", "role", "parts"], "properties": {
        "messageId": {"type": "string", "minLength": 1},
        "role": {"type": "string", "enum": ["ROLE_USER", "ROLE_AGENT"]},
        "parts": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Part"}},
        "taskId": {"type": "string"}, "contextId": {"type": "string"},
        "metadata": {"type": "object"}, "extensions": {"type": "array",
                                                       "items": {"type": "string"}},
        "referenceTaskIds": {"type": "array", "items": {"type": "string"}}}},
    "SendMessageRequest": {"type": "object", "required": ["message"], "properties": {
        "tenant": {"type": "string"},
        "message": {"$ref": "#/components/schemas/Message"},
        "configuration": {"type": "object", "properties": {
            "acceptedOutputModes": {"type": "array", "items": {"type": "string"}},
            "historyLength": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
            "returnImmediately": {"type": "boolean"}}},
        "metadata": {"type": "object"}}},
    "TaskPushNotificationConfig": {"type": "object", "required": ["url"], "properties": {
        "id": {"type": "string"}, "url": {"type": "string", "format": "uri"},
        "token": {"type": "string"}, "authentication": {"type": "object", "properties": {
            "scheme": {"type": "string"}, "credentials": {"type": "string"}}}}},
    "JsonRpcRequest": {"type": "object", "required": ["jsonrpc", "method"], "properties": {
        "jsonrpc": {"type": "string", "enum": ["2.0"]},
        "id": {"type": ["string", "integer", "null"]},
        "method": {"type": "string", "enum": sorted(JSONRPC_METHODS)},
        "params": {"type": "object"}}},
    "JsonRpcResponse": {"type": "object", "required": ["jsonrpc", "id"], "properties": {
        "jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer", "null"]},
        "result": {}, "error": {"type": "object", "required": ["code", "message"],
                                "properties": {"code": {"type": "integer"},
                                               "message": {"type": "string"},
                                               "data": {}}}}},
    "Status": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "status", "message"], "properties": {
            "code": {"type": "integer"}, "status": {"type": "string"},
            "message": {"type": "string"}, "details": {"type": "array"}}}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answers(ok: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    content = {_SSE: {"schema": {"type": "string"}}} if stream else {_JSON: {"schema": ok}}
    error = {"description": "The A2A error as a google.rpc.Status (AIP-193)",
             "content": {_JSON: {"schema": _ref("Status")}}}
    return {"200": {"description": "OK", "content": content}, "default": error}


def _op(summary: str, answers: dict[str, Any], *, params: Sequence[dict[str, Any]] = (),
        body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": [_VERSION, *params],
                          "responses": answers}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {_JSON: {"schema": _ref(body)}}}
    return op


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _rest_paths() -> dict[str, Any]:
    rest = f"{_AGENT}/rest"
    task = {"type": "object"}
    history = _query("historyLength", {"type": "integer", "minimum": 0})
    return {
        f"{rest}/message:send": {"post": _op("SendMessage", _answers(task),
                                             body="SendMessageRequest")},
        f"{rest}/message:stream": {"post": _op("SendStreamingMessage", _answers(
            task, stream=True), body="SendMessageRequest")},
        f"{rest}/tasks": {"get": _op("ListTasks", _answers(task), params=[
            _query("contextId", {"type": "string"}),
            _query("status", {"type": "string", "enum": _STATES}),
            _query("pageSize", {"type": "integer", "minimum": 1, "maximum": 100}),
            _query("pageToken", {"type": "string"}), history,
            _query("statusTimestampAfter", {"type": "string", "format": "date-time"}),
            _query("includeArtifacts", {"type": "boolean"})])},
        f"{rest}/tasks/{{id}}": {"get": _op("GetTask", _answers(task),
                                            params=[_TASK_ID, history])},
        f"{rest}/tasks/{{id}}:cancel": {"post": _op("CancelTask", _answers(task),
                                                    params=[_TASK_ID])},
        f"{rest}/tasks/{{id}}:subscribe": {"get": _op("SubscribeToTask", _answers(
            task, stream=True), params=[_TASK_ID])},
        f"{rest}/tasks/{{id}}/pushNotificationConfigs": {
            "post": _op("CreateTaskPushNotificationConfig", _answers(task), params=[_TASK_ID],
                        body="TaskPushNotificationConfig"),
            "get": _op("ListTaskPushNotificationConfigs", _answers(task), params=[
                _TASK_ID, _query("pageSize", {"type": "integer", "minimum": 1}),
                _query("pageToken", {"type": "string"})])},
        f"{rest}/tasks/{{id}}/pushNotificationConfigs/{{configId}}": {
            "get": _op("GetTaskPushNotificationConfig", _answers(task), params=[
                _TASK_ID, {"name": "configId", "in": "path", "required": True,
                           "schema": {"type": "string"}}]),
            "delete": _op("DeleteTaskPushNotificationConfig", _answers(task), params=[
                _TASK_ID, {"name": "configId", "in": "path", "required": True,
                           "schema": {"type": "string"}}])},
        f"{rest}/extendedAgentCard": {"get": _op("GetExtendedAgentCard", _answers(task))},
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every path the gateway serves."""
    jsonrpc = {"post": {
        "summary": "A2A JSON-RPC 2.0 (SSE for SendStreamingMessage and SubscribeToTask)",
        "parameters": [_VERSION],
        "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("JsonRpcRequest")}}},
        "responses": {
            "200": {"description": "A JSON-RPC response, or an event stream of them",
                    "content": {_JSON: {"schema": _ref("JsonRpcResponse")},
                                _SSE: {"schema": {"type": "string"}}}},
            "default": {"description": "A malformed request (4xx) or a gateway failure (5xx)",
                        "content": {_JSON: {"schema": _ref("JsonRpcResponse")}}}}}}
    card = {"get": {"summary": "The agent's card, rewritten for the gateway",
                    "responses": {"200": {"description": "AgentCard",
                                          "content": {_JSON: {"schema": {"type": "object"}}}},
                                  "default": {"description": "Unknown agent",
                                              "content": {_JSON: {"schema": _ref("Status")}}}}}}
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {
            "description": "ok", "content": {_JSON: {"schema": {"type": "object"}}}}}}},
        _AGENT: jsonrpc,
        f"{_AGENT}/.well-known/agent-card.json": card,
        **_rest_paths(),
    }
    for path, item in paths.items():
        if path.startswith(_AGENT):
            item["parameters"] = _REF_PARAMS
    return {"openapi": "3.1.0",
            "info": {"title": "a2a-mqtt HTTP gateway", "version": "1.0",
                     "description": "A2A 1.0 over HTTP (JSON-RPC, HTTP+JSON) for MQTT agents"},
            "paths": paths, "components": {"schemas": _SCHEMAS}}
