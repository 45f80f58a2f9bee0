"""AgentHttpGuard: the ASGI layer around one agent's a2a-sdk routes.

It does what a2a-sdk's routes leave to the application:

* **Request bodies.** A POST body must be declared JSON (``application/json``
  or ``*+json``; spec §9.1, §11.1) and is read here, up to ``max_body``
  bytes, checked (:mod:`.validation`), then replayed to the routes. A
  malformed request never reaches a2a-sdk: it is a client error, 415 for the
  content type, 413 for the size, 400 otherwise, with the binding's standard
  error -- a JSON-RPC error object (``-32005``, ``-32600`` "Payload too
  large", ``-32700``, ``-32600``, ``-32601``, ``-32602``; the request's id
  when it could be read) or a ``google.rpc.Status`` naming the same A2A error.
* **No plain-text or unexplained answers.** An error response that is not
  JSON (Starlette's 405) is replaced by a ``google.rpc.Status`` of the same
  status, and an exception that escapes the routes is logged and answered
  500 in the binding's shape.
* **Gateway errors.** When the proxy handler failed with a gateway error
  (agent offline, timed out, ...) it records it in the request's
  :class:`Outcome`. a2a-sdk renders every non-A2A error as an internal error;
  if the response has not started yet, this layer replaces it with the error's
  own status (503, 504, ...) and binding-native body. A stream that fails
  after its first event keeps its 200 and ends with a2a-sdk's SSE error event.
  An unsupported media type gets 415 on HTTP+JSON (A2A 1.0.0 §5.4, the TCK;
  a2a-sdk follows 1.0.1's 400).
* **Response headers.** HTTP+JSON answers say ``application/json`` (A2A 1.0.0
  §11.1 requires it; 1.0.1 merely prefers ``application/a2a+json``), and the
  Agent Card carries ``Last-Modified`` (§8.6.1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from a2a.utils.errors import A2AError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from a2a_mqtt.gateway.errors import (
    GatewayError,
    content_type_not_supported,
    http_error_body,
    jsonrpc_error_body,
    payload_too_large,
    refusal_jsonrpc_body,
    refusal_rest_body,
    rest_error_body,
)
from a2a_mqtt.gateway.layout import REST_PREFIX
from a2a_mqtt.gateway.lean import LeanJsonRpc
from a2a_mqtt.gateway.proxy import OUTCOME, Outcome
from a2a_mqtt.gateway.validation import CheckedRpc, MalformedRequest, check_jsonrpc, check_rest

__all__ = ["AgentHttpGuard", "header", "json_response", "route_path"]

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DRAIN_FACTOR: Final = 8  # an oversized body is read (and dropped) up to 8x the limit, then cut
_A2A_JSON: Final = b"application/a2a+json"
_REST: Final = REST_PREFIX + "/"

log = logging.getLogger("a2a_mqtt.gateway")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def route_path(scope: Scope) -> str:
    """The path below the scope's ``root_path`` (what Starlette routes on)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


async def json_response(send: Send, status: int, body: dict[str, Any], *,
                        headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send a complete JSON response."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        payload = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped, so the answer still goes out
        payload = json.dumps(body, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _request_id(body: bytes) -> str | int | None:
    """The JSON-RPC id to answer with (the body has passed :func:`check_jsonrpc`)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    rid = data.get("id") if isinstance(data, dict) else None
    if isinstance(rid, str):
        return None if any("\ud800" <= c <= "\udfff" for c in rid) else rid
    return rid if isinstance(rid, int) and not isinstance(rid, bool) else None


class AgentHttpGuard:
    """Request refusals, gateway-error rendering and response headers (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, max_body: int,
                 last_modified: Callable[[], float | None] | None = None,
                 any_method: bool = False, lean: LeanJsonRpc | None = None) -> None:
        self._app = app
        self._max = max_body
        self._last_modified = last_modified
        self._any_method = any_method  # a2a-sdk's 0.3 adapter knows other method names
        self._lean = lean  # answers the JSON-RPC methods it serves, instead of ``app``

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = route_path(scope)
        jsonrpc = scope["method"] == "POST" and path == "/"
        body = b""
        rpc: CheckedRpc | None = None
        if scope["method"] in _BODY_METHODS:
            content_type = header(scope, b"content-type")
            if scope["method"] == "POST" and content_type and not _is_json(content_type):
                await self._refuse(send, jsonrpc, content_type_not_supported(content_type), 415)
                return
            read = await self._read_body(scope, receive, send, jsonrpc)
            if read is None:
                return
            body = read
            try:
                if jsonrpc:
                    rpc = check_jsonrpc(body, any_method=self._any_method)
                elif scope["method"] == "POST" and path.startswith(_REST):
                    check_rest(body, path)
            except MalformedRequest as refused:
                await self._refuse(send, jsonrpc, refused.error, 400,
                                   request_id=refused.request_id)
                return
            receive = _Replay(body, receive)
        outcome = Outcome()
        card = (self._last_modified if scope["method"] in ("GET", "HEAD")
                and path == AGENT_CARD_WELL_KNOWN_PATH else None)
        sender = _Send(send, outcome, jsonrpc, body, card)
        try:
            if rpc is not None and self._lean is not None and self._lean.serves(rpc):
                await self._lean({**scope, OUTCOME: outcome}, rpc, receive, sender)
            else:
                await self._app({**scope, OUTCOME: outcome}, receive, sender)
        except Exception:
            # A defect, not the client's fault: logged, and answered in the binding's
            # shape if nothing was sent yet (else the server closes the connection).
            log.exception("gateway: %s %s failed", scope["method"], path)
            if sender.started:
                raise
            await sender.internal_error()

    async def _read_body(self, scope: Scope, receive: Receive, send: Send,
                         jsonrpc: bool) -> bytes | None:
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await self._refuse(send, jsonrpc, payload_too_large(self._max), 413)  # unread
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            size += len(chunk)
            if size > self._max:
                # Drain (bounded) what the client is still sending, so it reads our answer.
                while more and size <= _DRAIN_FACTOR * self._max:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    size += len(message.get("body", b""))
                    more = bool(message.get("more_body", False))
                await self._refuse(send, jsonrpc, payload_too_large(self._max), 413)
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    async def _refuse(send: Send, jsonrpc: bool, error: A2AError, http_status: int, *,
                      request_id: str | int | None = None) -> None:
        if jsonrpc:
            await json_response(send, http_status, refusal_jsonrpc_body(error, request_id))
        else:
            await json_response(send, http_status, refusal_rest_body(error, http_status))


class _Replay:
    """``receive`` that hands out the buffered body once, then the real messages."""

    __slots__ = ("_body", "_receive")

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._body: bytes | None = body
        self._receive = receive

    async def __call__(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self._receive()


class _Send:
    """``send`` that renders gateway errors and adjusts the response headers."""

    __slots__ = ("_body", "_card", "_jsonrpc", "_outcome", "_replaced", "_send", "started")

    def __init__(self, send: Send, outcome: Outcome, jsonrpc: bool, body: bytes,
                 card: Callable[[], float | None] | None) -> None:
        self._send = send
        self._outcome = outcome
        self._jsonrpc = jsonrpc
        self._body = body
        self._card = card
        self._replaced = False
        self.started = False

    async def __call__(self, message: Message) -> None:
        if self._replaced:
            return  # the body of the response we replaced
        if message["type"] == "http.response.start":
            self.started = True
            error = self._outcome.error
            if isinstance(error, GatewayError):
                self._replaced = True
                await self._render(error)
                return
            if error is not None and not self._jsonrpc:  # a2a-sdk would say 400
                self._replaced = True
                await json_response(self._send, 415, refusal_rest_body(error, 415))
                return
            if _plain_error(message):  # e.g. Starlette's "Method Not Allowed"
                self._replaced = True
                await self._plain(message)
                return
            message = self._adjust(message)
        await self._send(message)

    async def internal_error(self) -> None:
        """Answer 500 in the binding's shape (nothing has been sent)."""
        self.started = self._replaced = True
        text = "internal error in the gateway (logged)"
        if self._jsonrpc:
            body = {"jsonrpc": "2.0", "id": _request_id(self._body),
                    "error": {"code": -32603, "message": text}}
        else:
            body = http_error_body(500, text)
        await json_response(self._send, 500, body)

    async def _plain(self, start: Message) -> None:
        status = int(start["status"])
        keep = tuple((k, v) for k, v in start.get("headers", ()) if k.lower() == b"allow")
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = f"HTTP {status}"
        if status == 405:
            text = "this HTTP method is not served at this path"
        await json_response(self._send, status, http_error_body(status, text), headers=keep)

    def _adjust(self, start: Message) -> Message:
        headers = [(k, b"application/json" if k == b"content-type" and v == _A2A_JSON else v)
                   for k, v in start.get("headers", ())]
        if self._card is not None:
            modified = self._card()
            if modified is not None:
                headers.append((b"last-modified", formatdate(modified, usegmt=True).encode()))
        return {**start, "headers": headers}

    async def _render(self, error: GatewayError) -> None:
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if error.retry_after is not None:
            headers = ((b"retry-after", str(error.retry_after).encode()),)
        if self._jsonrpc:
            body = jsonrpc_error_body(_request_id(self._body), error)
        else:
            body = rest_error_body(error)
        await json_response(self._send, error.http_status, body, headers=headers)


def _plain_error(start: Message) -> bool:
    """An error response whose body is not JSON (Starlette's own 404/405 are plain text)."""
    if int(start["status"]) < 400:
        return False
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-type":
            return not _is_json(bytes(value).decode("latin-1"))
    return True
