"""Error tables: A2A errors and binding errors to JSON-RPC error objects and back.

Two families share the JSON-RPC code space (docs/binding.md §7):

* **A2A errors** (a2a-sdk's ``A2AError`` subclasses) use A2A 1.0 codes and put
  an *array* of ``google.rpc.ErrorInfo`` objects in ``error.data``.
* **Binding errors** from the EMQX profile reuse -32003..-32005 but put an
  *object* ``{"a2a_error": "<name>"}`` in ``error.data``.

A reader therefore checks ``error.data.a2a_error`` first and maps by code only
when it is absent; that is the single rule that resolves the collision.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from a2a.client.errors import A2AClientError
from a2a.utils.error_handlers import build_error_details
from a2a.utils.errors import (
    A2A_REASON_TO_ERROR,
    JSON_RPC_ERROR_CODE_MAP,
    A2AError,
    InternalError,
)

__all__ = [
    "BindingError",
    "BindingErrorKind",
    "PermissionDeniedError",
    "RequestExpiredError",
    "ResponderUnavailableError",
    "TransportProtocolError",
    "UnauthenticatedError",
    "binding_error_object",
    "error_for_code",
    "error_from_object",
    "error_object",
]

_ERROR_INFO_TYPE: Final = "type.googleapis.com/google.rpc.ErrorInfo"


class BindingErrorKind(enum.Enum):
    """The profile's binding error conditions: (JSON-RPC code, ``a2a_error`` name, retryable)."""

    REQUEST_EXPIRED = (-32003, "request_expired", True)
    RESPONDER_UNAVAILABLE = (-32004, "responder_unavailable", True)
    TRANSPORT_PROTOCOL_ERROR = (-32005, "transport_protocol_error", False)
    # A2A 1.0 has no JSON-RPC code for these (HTTP says 401/403, gRPC UNAUTHENTICATED /
    # PERMISSION_DENIED); the object-shaped data tells them apart (docs/binding.md §8.2).
    UNAUTHENTICATED = (-32010, "unauthenticated", False)
    PERMISSION_DENIED = (-32011, "permission_denied", False)

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def wire_name(self) -> str:
        return self.value[1]

    @property
    def retryable(self) -> bool:
        return self.value[2]


class BindingError(A2AClientError):
    """A binding-level failure reported by a responder (or detected by the requester).

    Subclasses a2a-sdk's ``A2AClientError`` so code written against the stock
    client catches it; ``kind`` says which profile condition it is.
    """

    kind: BindingErrorKind = BindingErrorKind.TRANSPORT_PROTOCOL_ERROR

    @property
    def retryable(self) -> bool:
        return self.kind.retryable


class RequestExpiredError(BindingError):
    """The request's Message Expiry passed before the responder processed it."""

    kind = BindingErrorKind.REQUEST_EXPIRED
    message = "Request expired before processing"


class ResponderUnavailableError(BindingError):
    """No responder took the request (offline, no subscriber, overloaded)."""

    kind = BindingErrorKind.RESPONDER_UNAVAILABLE
    message = "Responder unavailable"


class TransportProtocolError(BindingError):
    """Binding metadata was missing or invalid (Response Topic, Correlation Data, Task.id...)."""

    kind = BindingErrorKind.TRANSPORT_PROTOCOL_ERROR
    message = "Transport protocol error"


class UnauthenticatedError(BindingError):
    """Credentials required by the agent are missing, malformed, expired or not trusted."""

    kind = BindingErrorKind.UNAUTHENTICATED
    message = "Authentication required"


class PermissionDeniedError(BindingError):
    """Valid credentials that do not grant what the request needs (a skill's scope)."""

    kind = BindingErrorKind.PERMISSION_DENIED
    message = "Permission denied"


_BINDING_CLASSES: Final[dict[str, type[BindingError]]] = {
    cls.kind.wire_name: cls
    for cls in (RequestExpiredError, ResponderUnavailableError, TransportProtocolError,
                UnauthenticatedError, PermissionDeniedError)
}
_CODE_TO_A2A: Final[dict[int, type[A2AError]]] = {
    code: cls for cls, code in JSON_RPC_ERROR_CODE_MAP.items()
}


def binding_error_object(
    kind: BindingErrorKind, message: str, **details: Any
) -> dict[str, Any]:
    """The JSON-RPC ``error`` member for a binding error."""
    data: dict[str, Any] = {**details, "a2a_error": kind.wire_name}
    return {"code": kind.code, "message": message, "data": data}


def error_object(error: BaseException) -> dict[str, Any]:
    """The JSON-RPC ``error`` member for any exception a responder raises.

    A2A errors keep their class's code and ErrorInfo details (as a2a-sdk's HTTP
    dispatcher sends them); binding errors get the object shape; anything
    else is an internal error whose message hides the exception's repr.
    """
    if isinstance(error, BindingError):
        return binding_error_object(error.kind, error.message, **(error.data or {}))
    if isinstance(error, A2AError):
        code = JSON_RPC_ERROR_CODE_MAP.get(type(error))
        if code is None:
            # Our own or a subclass: map by the nearest a2a-sdk ancestor.
            code = next((c for cls, c in JSON_RPC_ERROR_CODE_MAP.items()
                         if isinstance(error, cls)), -32603)
        return {"code": code, "message": error.message, "data": build_error_details(error)}
    return {"code": -32603, "message": "Internal error",
            "data": build_error_details(InternalError())}


def error_for_code(code: int, message: str) -> A2AError:
    """The a2a-sdk error class for a JSON-RPC code (InternalError when unknown)."""
    return _CODE_TO_A2A.get(code, InternalError)(message)


def error_from_object(error: Any) -> A2AError:
    """The exception a requester raises for a JSON-RPC ``error`` member.

    ``data.a2a_error`` decides first; then the A2A code table, carrying the
    ErrorInfo metadata as ``data``; then the ErrorInfo ``reason``; unknown codes
    become a plain ``A2AClientError`` naming code and message.
    """
    if not isinstance(error, dict):
        return TransportProtocolError(f"malformed JSON-RPC error: {error!r}")
    code = error.get("code")
    message = error.get("message")
    text = message if isinstance(message, str) and message else f"JSON-RPC error {code}"
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("a2a_error"), str):
        # The object shape marks a binding error even when its name is new to us:
        # never let it fall through to the A2A class that shares its code.
        return _BINDING_CLASSES.get(data["a2a_error"], BindingError)(text, data=data)
    info: dict[str, Any] | None = None
    reason: str | None = None
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and item.get("@type") == _ERROR_INFO_TYPE:
                meta = item.get("metadata")
                info = meta if isinstance(meta, dict) and meta else None
                reason = item.get("reason") if isinstance(item.get("reason"), str) else None
                break
    if isinstance(code, int) and not isinstance(code, bool) and code in _CODE_TO_A2A:
        return _CODE_TO_A2A[code](text, data=info)
    if reason is not None and reason in A2A_REASON_TO_ERROR:
        return A2A_REASON_TO_ERROR[reason](text, data=info)
    return A2AClientError(f"JSON-RPC error {code}: {text}")
