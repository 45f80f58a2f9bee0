"""AgentHttpGuard in process: body limit and gateway-error rendering (ASGI messages only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from a2a_mqtt.gateway.errors import AgentTimeoutError
from a2a_mqtt.gateway.middleware import AgentHttpGuard
from a2a_mqtt.gateway.proxy import OUTCOME, Outcome

pytestmark = pytest.mark.asyncio

RPC = b'{"jsonrpc":"2.0","id":42,"method":"GetTask","params":{"id":"t-1"}}'


class Echo:
    """Answers with the body it read; or fails like a2a-sdk renders an error."""

    def __init__(self, *, fail: bool = False, stream: bool = False) -> None:
        self.fail, self.stream = fail, stream
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        outcome = scope[OUTCOME]
        assert isinstance(outcome, Outcome)
        if self.stream:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            outcome.error = AgentTimeoutError("too late")  # after the start: stays an SSE error
            await send({"type": "http.response.body", "body": b"data: x\n\n"})
            return
        if self.fail:
            outcome.error = AgentTimeoutError("agent a/b/c did not answer", agent="a/b/c")
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"a2a-sdk's internal error"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def call(app: Any, *, path: str = "/", body: list[bytes] | None = None,
               length: int | None = None, content_type: bytes | None = None,
               method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    chunks = list(body or [b""])
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    scope = {"type": "http", "method": method, "path": path, "root_path": "",
             "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return 0, {}, b""
    start = sent[0]
    got = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], got, b"".join(m.get("body", b"") for m in sent[1:])


async def test_the_body_is_read_once_and_replayed() -> None:
    app = Echo()
    status, _, body = await call(AgentHttpGuard(app, max_body=100), body=[RPC[:9], RPC[9:]])
    assert (status, body) == (200, RPC)


async def test_declared_oversized_body_is_refused_unread() -> None:
    app = Echo()
    guard = AgentHttpGuard(app, max_body=10)
    status, _, body = await call(guard, path="/", body=[b"x" * 50], length=50)
    assert status == 413 and json.loads(body)["error"]["code"] == -32600  # JSON-RPC
    status, _, body = await call(guard, path="/rest/message:send", body=[b"x" * 50], length=50)
    assert status == 413 and json.loads(body)["error"]["code"] == 413
    assert app.calls == 0


async def test_streamed_oversized_body_is_counted_and_drained() -> None:
    chunks = [b"x" * 8] * 5
    status, _, _ = await call(AgentHttpGuard(Echo(), max_body=20), path="/rest/x", body=chunks)
    assert status == 413


async def test_a_client_gone_while_sending_gets_nothing() -> None:
    status, _, body = await call(AgentHttpGuard(Echo(), max_body=100), body=[])
    assert status == 400 and json.loads(body)["error"]["code"] == -32700  # read, not JSON
    app = Echo()

    async def vanished(scope: Scope, receive: Receive, send: Send) -> None:
        async def gone() -> Message:
            return {"type": "http.disconnect"}
        await AgentHttpGuard(app, max_body=100)(scope, gone, send)
    assert await call(vanished) == (0, {}, b"")
    assert app.calls == 0


async def test_gateway_errors_get_their_status_and_binding_body() -> None:
    guard = AgentHttpGuard(Echo(fail=True), max_body=1000)
    status, headers, body = await call(guard, path="/", body=[RPC])
    assert status == 504 and headers["content-type"] == "application/json"
    parsed = json.loads(body)
    assert parsed["id"] == 42 and parsed["error"]["data"][0]["reason"] == "AGENT_TIMEOUT"
    status, _, body = await call(guard, path="/rest/tasks/x", body=[b""])
    assert status == 504 and json.loads(body)["error"]["status"] == "DEADLINE_EXCEEDED"


async def test_an_error_after_the_response_started_is_left_alone() -> None:
    status, _, body = await call(AgentHttpGuard(Echo(stream=True), max_body=100), path="/",
                                 body=[RPC])
    assert (status, body) == (200, b"data: x\n\n")


async def test_a_body_not_declared_as_json_is_refused() -> None:
    app = Echo()
    guard = AgentHttpGuard(app, max_body=100)
    status, _, body = await call(guard, body=[RPC], content_type=b"text/plain")
    assert status == 415 and json.loads(body)["error"]["code"] == -32005
    status, _, body = await call(guard, path="/rest/message:send", body=[b"{}"],
                                 content_type=b"text/plain")
    assert status == 415
    assert json.loads(body)["error"]["details"][0]["reason"] == "CONTENT_TYPE_NOT_SUPPORTED"
    assert app.calls == 0
    for ok in (b"application/json", b"application/json; charset=utf-8",
               b"application/a2a+json"):
        assert (await call(guard, body=[RPC], content_type=ok))[0] == 200


class Card:
    """Answers like a2a-sdk's routes: HTTP+JSON bodies labelled application/a2a+json."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/a2a+json")]})
        await send({"type": "http.response.body", "body": b"{}"})


async def test_response_headers_are_adjusted() -> None:
    guard = AgentHttpGuard(Card(), max_body=10, last_modified=lambda: 0.0)
    _, headers, _ = await call(guard, path="/.well-known/agent-card.json", method="GET")
    assert headers["content-type"] == "application/json"
    assert headers["last-modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    _, headers, _ = await call(guard, path="/rest/tasks/x", method="GET")
    assert "last-modified" not in headers
