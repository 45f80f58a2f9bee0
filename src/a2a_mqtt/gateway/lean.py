"""The lean JSON-RPC path: ``SendMessage`` and its streaming form relayed as JSON.

Profiled under ``bench/gateway_compare.py`` (docs/performance.md, "Gateway"),
a unary ``SendMessage`` through a2a-sdk's JSON-RPC route cost the gateway a
second ``json.loads`` + ``ParseDict`` of the body (after :mod:`.validation`
had done both), ``MessageToDict`` of the request for MQTT, ``ParseDict`` of
the agent's reply and ``MessageToDict`` of it again for HTTP (pure-Python
``json_format`` each time), plus Starlette's router, the request object, the
dispatcher's span wrappers and ``JSONResponse``.

:class:`LeanJsonRpc` answers the same request from what the guard already
holds (:class:`~.validation.CheckedRpc`: the decoded JSON and the checked
proto): the JSON goes to the agent, the agent's result comes back, each
encoded once. What a2a-sdk's route decides stays a2a-sdk's, through its
public pieces: the call context (the same context builder), the
``A2A-Version`` check (its ``validate_version``), error objects
(``build_error_response``) and the response shape (``result``, ``id``,
``jsonrpc``; HTTP 200). The handler's checks are
:meth:`MqttProxyHandler.send_message_json`, the very ones of
``on_message_send``; gateway errors are recorded in the request's
:class:`Outcome` and rendered by the guard as for the full path.

``SendStreamingMessage`` is the same, event by event, into a2a-sdk's own SSE
response (``create_event_source_response``): framing, pings, disconnects and
shutdown stay a2a-sdk's. Every other method and a2a-sdk's 0.3 adapter keep
the full path.
``tests/behaviour/gateway/test_lean.py`` holds the two paths to the same
answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any, Final

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.server.routes import ServerCallContextBuilder
from a2a.server.routes.common import create_event_source_response
from a2a.types.a2a_pb2 import SendMessageRequest
from a2a.utils.constants import PROTOCOL_VERSION_1_0
from a2a.utils.errors import A2AError, InternalError
from a2a.utils.version_validator import validate_version
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from a2a_mqtt.gateway.proxy import MqttProxyHandler
from a2a_mqtt.gateway.validation import CheckedRpc

__all__ = ["LEAN_METHODS", "LeanJsonRpc"]

LEAN_METHODS: Final = frozenset({"SendMessage", "SendStreamingMessage"})
"""The JSON-RPC methods the lean path answers (the others go through a2a-sdk's route)."""

log = logging.getLogger("a2a_mqtt.gateway")


@validate_version(PROTOCOL_VERSION_1_0)
async def _send(handler: MqttProxyHandler, request: SendMessageRequest, params: dict[str, Any],
                context: ServerCallContext) -> dict[str, Any]:
    # a2a-sdk's own decorator: the A2A-Version rule (and its error) of its routes.
    return await handler.send_message_json(request, params, context)


_Opened = tuple[AsyncGenerator[dict[str, Any]], dict[str, Any] | None]


@validate_version(PROTOCOL_VERSION_1_0)
async def _open_stream(handler: MqttProxyHandler, request: SendMessageRequest,
                       params: dict[str, Any], context: ServerCallContext) -> _Opened:
    # As a2a-sdk's dispatcher: the first event is awaited before the response starts, so
    # a failure up to there is an ordinary JSON answer (and a gateway error its status).
    stream = handler.send_message_stream_json(request, params, context)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = None
    return stream, first


def _sse(rid: str | int | None, stream: AsyncGenerator[dict[str, Any]],
         first: dict[str, Any] | None) -> AsyncGenerator[dict[str, str]]:
    """The SSE events a2a-sdk's JSON-RPC route makes of a stream (``data`` is one
    JSON-RPC response; ``event: error`` for an error), each result relayed as JSON."""
    async def events() -> AsyncGenerator[dict[str, str]]:
        try:
            if first is not None:
                yield {"data": _dumps({"result": first, "id": rid, "jsonrpc": "2.0"})}
            async for item in stream:
                yield {"data": _dumps({"result": item, "id": rid, "jsonrpc": "2.0"})}
        except A2AError as error:
            yield {"data": _dumps(build_error_response(rid, error)), "event": "error"}
        except Exception as exc:  # a defect: logged, and the stream's error event
            log.exception("gateway: SendStreamingMessage stream failed")
            body = build_error_response(rid, InternalError(message=str(exc)))
            yield {"data": _dumps(body), "event": "error"}
    return events()


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)  # a2a-sdk's json_utils.dumps for SSE


def _encode(body: dict[str, Any]) -> bytes:
    """As Starlette's ``JSONResponse`` renders a2a-sdk's answers."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped, so the answer still goes out
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


class LeanJsonRpc:
    """Answers a checked JSON-RPC ``SendMessage`` for one agent (pure ASGI output)."""

    __slots__ = ("_builder", "_handler")

    def __init__(self, *, handler: MqttProxyHandler,
                 context_builder: ServerCallContextBuilder) -> None:
        self._handler = handler
        self._builder = context_builder

    def serves(self, rpc: CheckedRpc) -> bool:
        """Whether this path answers ``rpc`` (else a2a-sdk's route does)."""
        return rpc.method in LEAN_METHODS and isinstance(rpc.request, SendMessageRequest)

    async def __call__(self, scope: Scope, rpc: CheckedRpc, receive: Receive,
                       send: Send) -> None:
        """Answer ``rpc`` on ``send``; ``scope`` carries the request's Outcome."""
        assert isinstance(rpc.request, SendMessageRequest)
        # What a2a-sdk's dispatcher puts in the call context (jsonrpc_dispatcher.py).
        context = self._builder.build(Request(scope))
        context.tenant = rpc.request.tenant
        context.state["method"] = rpc.method
        context.state["request_id"] = rpc.id
        if rpc.method == "SendStreamingMessage":
            await self._stream(scope, rpc, context, receive, send)
            return
        try:
            result = await _send(self._handler, rpc.request, rpc.params, context)
            body = {"result": result, "id": rpc.id, "jsonrpc": "2.0"}
        except A2AError as error:
            body = build_error_response(rpc.id, error)
        except Exception as exc:  # a defect: a2a-sdk's route answers -32603, and logs
            log.exception("gateway: %s failed", rpc.method)
            body = build_error_response(rpc.id, InternalError(message=str(exc)))
        await _json(send, body)

    async def _stream(self, scope: Scope, rpc: CheckedRpc, context: ServerCallContext,
                      receive: Receive, send: Send) -> None:
        assert isinstance(rpc.request, SendMessageRequest)
        try:
            stream, first = await _open_stream(self._handler, rpc.request, rpc.params, context)
        except A2AError as error:
            log.log(logging.ERROR if isinstance(error, InternalError) else logging.WARNING,
                    "Request Error (ID: %s): %s", rpc.id, error.message)
            await _json(send, build_error_response(rpc.id, error))
            return
        except Exception as exc:  # a defect: a2a-sdk's route answers -32603, and logs
            log.exception("gateway: %s failed", rpc.method)
            await _json(send, build_error_response(rpc.id, InternalError(message=str(exc))))
            return
        # a2a-sdk's own SSE response (framing, pings, disconnects, shutdown).
        response = create_event_source_response(_sse(rpc.id, stream, first))
        await response(scope, receive, send)


async def _json(send: Send, body: dict[str, Any]) -> None:
    payload = _encode(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(payload)).encode()),
                            (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
