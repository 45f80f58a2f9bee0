"""Gateway errors: what went wrong between the gateway and the agent, and how it looks on HTTP.

A2A errors the agent raises (TaskNotFoundError, ...) pass through unchanged:
a2a-sdk's own routes give them their standard JSON-RPC code and HTTP status.
What only a gateway can run into gets its own classes, all subclasses of
a2a-sdk's ``InternalError`` (so a stream that fails mid-way still reports
JSON-RPC -32603):

=========================  ====  =================  ==========  ==========================
class                      HTTP  google.rpc status  JSON-RPC    when
=========================  ====  =================  ==========  ==========================
``AgentNotFoundError``     404   NOT_FOUND          -32601      no such agent or pool
``AgentUnavailableError``  503   UNAVAILABLE        -32603      card offline, no subscriber
                                                                (PUBACK 0x10), overloaded,
                                                                the agent's will arrived
``AgentTimeoutError``      504   DEADLINE_EXCEEDED  -32603      no (further) reply in time
``BadGatewayError``        502   INTERNAL           -32603      a malformed or refused reply
``AgentUnauthenticated..`` 401   UNAUTHENTICATED    -32010      agent refused the credentials
``AgentForbiddenError``    403   PERMISSION_DENIED  -32011      token lacks the skill's scope
=========================  ====  =================  ==========  ==========================

Their bodies follow each binding: a JSON-RPC error object, or (HTTP+JSON) a
``google.rpc.Status`` with an ``ErrorInfo`` whose domain is ``a2a-mqtt``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.utils.error_handlers import build_error_details
from a2a.utils.errors import (
    JSON_RPC_ERROR_CODE_MAP,
    A2AError,
    ContentTypeNotSupportedError,
    InternalError,
    InvalidRequestError,
)

from a2a_mqtt.binding.codes import BindingError, BindingErrorKind
from a2a_mqtt.errors import A2AMqttError

__all__ = [
    "GATEWAY_DOMAIN",
    "AgentForbiddenError",
    "AgentNotFoundError",
    "AgentTimeoutError",
    "AgentUnauthenticatedError",
    "AgentUnavailableError",
    "BadGatewayError",
    "GatewayError",
    "content_type_not_supported",
    "http_error_body",
    "jsonrpc_error_body",
    "payload_too_large",
    "refusal_jsonrpc_body",
    "refusal_rest_body",
    "rest_error_body",
    "translate",
]

GATEWAY_DOMAIN: Final = "a2a-mqtt"
_ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"


class GatewayError(InternalError):
    """The path from the gateway to the agent failed; subclasses say how."""

    http_status: ClassVar[int] = 502
    rpc_status: ClassVar[str] = "INTERNAL"
    reason: ClassVar[str] = "BAD_GATEWAY"
    jsonrpc_code: ClassVar[int] = -32603
    retry_after: ClassVar[int | None] = None

    def __init__(self, message: str, *, agent: str = "", **details: str) -> None:
        data = {"agent": agent, **details} if agent else dict(details)
        super().__init__(message, data=data)

    def error_info(self) -> dict[str, Any]:
        metadata = {k: str(v) for k, v in (self.data or {}).items()}
        return {"@type": _ERROR_INFO, "reason": self.reason, "domain": GATEWAY_DOMAIN,
                "metadata": metadata}


class BadGatewayError(GatewayError):
    """The agent (or the broker) answered with something unusable."""


class AgentNotFoundError(GatewayError):
    """No agent or pool with that reference is known to the gateway."""

    http_status = 404
    rpc_status = "NOT_FOUND"
    reason = "AGENT_NOT_FOUND"
    jsonrpc_code = -32601


class AgentUnavailableError(GatewayError):
    """The agent cannot take requests now (offline, not subscribed, overloaded)."""

    http_status = 503
    rpc_status = "UNAVAILABLE"
    reason = "AGENT_UNAVAILABLE"
    retry_after = 5


class AgentTimeoutError(GatewayError):
    """The agent did not answer (or went quiet mid-stream) within the configured time."""

    http_status = 504
    rpc_status = "DEADLINE_EXCEEDED"
    reason = "AGENT_TIMEOUT"


class AgentUnauthenticatedError(GatewayError):
    """The agent refused the request: credentials missing, invalid or expired."""

    http_status = 401
    rpc_status = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"
    jsonrpc_code = BindingErrorKind.UNAUTHENTICATED.code


class AgentForbiddenError(GatewayError):
    """The agent refused the request: valid credentials without the needed scope."""

    http_status = 403
    rpc_status = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"
    jsonrpc_code = BindingErrorKind.PERMISSION_DENIED.code


def translate(error: A2AError | A2AMqttError, agent: str) -> A2AError:
    """The error to answer an HTTP client with, for an error our MQTT client raised.

    The agent's A2A errors are returned as they are; client-side failures
    (binding errors, timeouts, malformed replies) become gateway errors.
    """
    if isinstance(error, BindingError):
        if error.kind is BindingErrorKind.TRANSPORT_PROTOCOL_ERROR:
            return BadGatewayError(f"agent {agent} rejected the request's binding metadata: "
                                   f"{error.message}", agent=agent)
        if error.kind is BindingErrorKind.UNAUTHENTICATED:
            return AgentUnauthenticatedError(f"agent {agent}: {error.message}", agent=agent)
        if error.kind is BindingErrorKind.PERMISSION_DENIED:
            return AgentForbiddenError(f"agent {agent}: {error.message}", agent=agent)
        return AgentUnavailableError(f"agent {agent} is unavailable: {error.message}",
                                     agent=agent, mqtt_error=error.kind.wire_name)
    if isinstance(error, A2AClientTimeoutError):
        return AgentTimeoutError(f"agent {agent} did not answer in time: {error.message}",
                                 agent=agent)
    if isinstance(error, A2AClientError):
        return BadGatewayError(f"calling agent {agent} failed: {error.message}", agent=agent)
    if isinstance(error, A2AMqttError):
        return BadGatewayError(f"calling agent {agent} failed: {error}", agent=agent)
    return error


def rest_error_body(error: GatewayError) -> dict[str, Any]:
    """A ``google.rpc.Status`` body (AIP-193), as the HTTP+JSON binding requires."""
    return {"error": {"code": error.http_status, "status": error.rpc_status,
                      "message": error.message, "details": [error.error_info()]}}


def jsonrpc_error_body(request_id: str | int | None, error: GatewayError) -> dict[str, Any]:
    """A JSON-RPC 2.0 error response."""
    return {"jsonrpc": "2.0", "id": request_id,
            "error": {"code": error.jsonrpc_code, "message": error.message,
                      "data": [error.error_info()]}}


def payload_too_large(limit: int) -> InvalidRequestError:
    """What a2a-sdk's JSON-RPC route answers for an oversized body (-32600)."""
    return InvalidRequestError(message=f"Payload too large: the limit is {limit} bytes")


def content_type_not_supported(content_type: str) -> ContentTypeNotSupportedError:
    """A request body that is not declared as JSON (spec §9.1, §11.1)."""
    return ContentTypeNotSupportedError(
        message=f"Content-Type {content_type!r} is not supported: send application/json")


def refusal_jsonrpc_body(error: A2AError,
                         request_id: str | int | None = None) -> dict[str, Any]:
    """A JSON-RPC error for a request refused before a2a-sdk saw it (``id`` null if unread)."""
    return {"jsonrpc": "2.0", "id": request_id,
            "error": {"code": JSON_RPC_ERROR_CODE_MAP.get(type(error), -32603),
                      "message": error.message, "data": build_error_details(error)}}


def refusal_rest_body(error: A2AError, http_status: int) -> dict[str, Any]:
    """A ``google.rpc.Status`` for a request refused before it was parsed; its ErrorInfo
    reason lets a2a-sdk's REST client raise the matching A2A error."""
    return {"error": {"code": http_status, "status": "INVALID_ARGUMENT",
                      "message": error.message, "details": build_error_details(error)}}


_HTTP_STATUS_NAMES: Final = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED",
                             403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED",
                             409: "ABORTED", 413: "INVALID_ARGUMENT",
                             415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}


def http_error_body(http_status: int, message: str) -> dict[str, Any]:
    """A ``google.rpc.Status`` for an HTTP-level answer that has no A2A error class
    (a wrong HTTP method, an internal failure), so no answer is ever plain text."""
    status = _HTTP_STATUS_NAMES.get(http_status,
                                    "INTERNAL" if http_status >= 500 else "FAILED_PRECONDITION")
    reason = "INTERNAL_ERROR" if http_status >= 500 else f"HTTP_{http_status}"
    return {"error": {"code": http_status, "status": status, "message": message,
                      "details": [{"@type": _ERROR_INFO, "reason": reason,
                                   "domain": GATEWAY_DOMAIN, "metadata": {}}]}}
