"""The gateway under hostile HTTP: every malformed request gets a 4xx and the standard error.

Bounded, fixed-seed property runs over the JSON-RPC endpoint, the HTTP+JSON
routes and both SSE surfaces, against a real gateway (uvicorn) in front of a
real Mosquitto and a real echo agent (the showcase echoes plain text). The
strategies and the rule are in ``hostile.py``; ``bench/fuzz_gateway.py`` is
the long run of the same thing.

hypothesis drives synchronous test functions, so the stack runs in one
``asyncio.Runner`` that each example drives (no thread): the gateway and the
agent progress while an example awaits its answer.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card, showcase_extended_card
from a2a_mqtt.gateway import GatewayServer
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import agent_url, known, open_gateway
from tests.behaviour.gateway.hostile import (
    MAX_BODY,
    Hostile,
    jsonrpc_requests,
    judge,
    rest_requests,
    send,
    transport_requests,
    valid_requests,
)

HEALTH_EVERY = 20
FUZZ = settings(derandomize=True, max_examples=120, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example,
                                      HealthCheck.function_scoped_fixture])


class Live:
    """Mosquitto (fixture) + echo agent + gateway, all in one runner's event loop."""

    def __init__(self, broker: MosquittoProcess, ref: AgentRef) -> None:
        self.runner = asyncio.Runner()
        self.ref = ref
        self._broker = broker
        self._stack = AsyncExitStack()
        self.gateway: GatewayServer
        self.http: httpx.AsyncClient
        self.seen: Counter[str] = Counter()
        self.sent = 0

    async def start(self) -> None:
        await self._stack.enter_async_context(serve(
            self._broker.url, self.ref, ShowcaseExecutor(), showcase_card(),
            extended_card=showcase_extended_card()))
        self.gateway = await self._stack.enter_async_context(
            open_gateway(self._broker.url, max_body_bytes=MAX_BODY))
        self.http = await self._stack.enter_async_context(httpx.AsyncClient(timeout=20.0))
        await known(self.gateway, self.ref)

    def answer(self, request: Hostile) -> str | None:
        """Send ``request``; what is wrong with its answer (None if nothing)."""
        async def go() -> str | None:
            answer = await send(self.http, self.gateway.url, agent_url(self.gateway, self.ref),
                                request)
            return judge(request, answer)
        self.seen[f"{request.surface}:{request.family}"] += 1
        self.sent += 1
        problem = self.runner.run(go())
        if self.sent % HEALTH_EVERY == 0:
            self.health()
        return problem

    def health(self) -> None:
        """A valid request over each binding still works, and /healthz says ok."""
        async def go() -> None:
            for request in valid_requests():
                answer = await send(self.http, self.gateway.url,
                                    agent_url(self.gateway, self.ref), request)
                assert answer.status == 200, answer
                data = json.loads(answer.body)
                task = data["result"]["task"] if request.jsonrpc else data["task"]
                assert task["status"]["state"] == "TASK_STATE_COMPLETED", data
            r = await self.http.get(f"{self.gateway.url}/healthz")
            assert r.json() == {"status": "ok", "agents": 1}
        self.runner.run(go())


@pytest.fixture
def live(broker: MosquittoProcess, ref: AgentRef) -> Iterator[Live]:
    stack = Live(broker, ref)
    with stack.runner:
        stack.runner.run(stack.start())
        try:
            yield stack
        finally:
            stack.runner.run(stack._stack.aclose())


def _surfaces(live: Live) -> set[str]:
    return {key.split(":", 1)[0] for key in live.seen}


def _families(live: Live) -> set[str]:
    return {key.split(":", 1)[1] for key in live.seen}


def test_json_rpc_and_its_sse_methods_answer_malformed_requests_with_4xx(live: Live) -> None:
    @FUZZ
    @given(jsonrpc_requests())
    def check(request: Hostile) -> None:
        assert live.answer(request) is None, request

    check()
    live.health()
    assert _surfaces(live) == {"jsonrpc", "sse"}, live.seen
    assert {"surrogate_id", "non_utf8", "deep", "nan", "unknown_method", "envelope_types",
            "params_types"} <= _families(live), live.seen


def test_http_json_and_its_sse_routes_answer_malformed_requests_with_4xx(live: Live) -> None:
    @FUZZ
    @given(rest_requests())
    def check(request: Hostile) -> None:
        assert live.answer(request) is None, request

    check()
    live.health()
    assert _surfaces(live) == {"rest", "sse"}, live.seen
    assert {"wrong_http_method", "rest_query", "bad_route", "rest_non_utf8", "rest_deep",
            "rest_nan", "rest_surrogate_text"} <= _families(live), live.seen


def test_oversized_mistyped_and_misaddressed_requests_get_4xx(live: Live) -> None:
    @settings(FUZZ, max_examples=60)
    @given(transport_requests())
    def check(request: Hostile) -> None:
        assert live.answer(request) is None, request

    check()
    live.health()
    assert {"rest:huge_body", "jsonrpc:huge_body", "jsonrpc:content_type", "rest:content_type",
            "path:agent_ref"} <= set(live.seen), live.seen


# ------------------------------------------------------------------ the issue's single messages

def _raw(body: bytes, *, path: str = "/", accept: str | None = None) -> Hostile:
    headers = {"A2A-Version": "1.0", "Content-Type": "application/json"}
    if accept:
        headers["Accept"] = accept
    return Hostile(family="example", surface="jsonrpc" if path == "/" else "rest", path=path,
                   body=body, headers=headers)


@pytest.mark.parametrize(("body", "path", "code"), [
    # A lone-surrogate id: the reply could not be encoded (a plain-text 500).
    (b'{"jsonrpc":"2.0","id":"\\ud800","method":"GetTask","params":{"id":"t"}}', "/", -32700),
    (b'{"jsonrpc":"2.0","id":"\\udc00x","method":"SendStreamingMessage","params":{}}', "/",
     -32700),
    # HTTP+JSON bodies that are not UTF-8, or nested deeply (500s from a2a-sdk).
    (b'{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"\xff"}]}}',
     "/rest/message:send", "INVALID_ARGUMENT"),
    (b"[" * 30_000 + b"]" * 30_000, "/rest/message:send", "INVALID_ARGUMENT"),
    (b'{"message":' * 2_000 + b"1" + b"}" * 2_000, "/rest/message:stream", "INVALID_ARGUMENT"),
    (b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m",'
     b'"role":"ROLE_USER","parts":[{"data":{"x":NaN}}]}}}', "/", -32700),
    (b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m",'
     b'"role":"ROLE_USER","parts":[{"text":"hi"}],"metadata":{"big":1e400}}}}', "/", -32700),
    (b'{"jsonrpc":"2.0","id":7,"method":"GetTask","params":{"id":"t","historyLength":"x"}}',
     "/", -32602),
])
def test_the_issues_single_messages_get_4xx_and_the_standard_error(
        live: Live, body: bytes, path: str, code: Any) -> None:
    request = _raw(body, path=path)

    async def go() -> None:
        answer = await send(live.http, live.gateway.url, agent_url(live.gateway, live.ref),
                            request)
        assert judge(request, answer) is None, answer
        assert answer.status == 400
        error = json.loads(answer.body)["error"]
        assert error["code" if isinstance(code, int) else "status"] == code
        if path == "/":  # the id is echoed once the request could be read (not for -32700)
            assert json.loads(answer.body)["id"] == (7 if code == -32602 else None)
    live.runner.run(go())
    live.health()


# ------------------------------------------------------------------ SSE: disconnects free resources

@pytest.mark.asyncio
async def test_clients_vanishing_mid_stream_release_every_stream(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve(
            broker.url, ref, ShowcaseExecutor(), showcase_card(),
            extended_card=showcase_extended_card()))
        gw = await stack.enter_async_context(open_gateway(broker.url))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=20.0))
        await known(gw, ref)
        url = agent_url(gw, ref)
        rpc = {"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage",
               "params": {"message": {"messageId": "m", "role": "ROLE_USER",
                                      "parts": [{"text": "chunks 50"}]}}}
        rest = {"message": {"messageId": "m2", "role": "ROLE_USER",
                            "parts": [{"text": "chunks 50"}]}}
        headers = {"A2A-Version": "1.0", "Accept": "text/event-stream"}

        async def first_event_then_leave(i: int) -> None:
            rpc_i = {**rpc, "params": {"message": {**rpc["params"]["message"],  # type: ignore[index]
                                                   "messageId": f"m-{i}"}}}
            target, body = ((url, rpc_i) if i % 2 else
                            (f"{url}/rest/message:stream",
                             {"message": {**rest["message"], "messageId": f"r-{i}"}}))
            async with http.stream("POST", target, json=body, headers=headers) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        return  # leave with the stream open

        await asyncio.gather(*(first_event_then_leave(i) for i in range(8)))
        await gw.gateway.inflight.wait_idle(10.0)
        assert gw.gateway.inflight.open_streams == 0
        assert not gw.gateway.mqtt.requester._calls  # no correlation left behind
        # ...and the gateway serves the next stream to its end.
        async with http.stream("POST", url, json={**rpc, "params": {"message": {
                **rest["message"], "messageId": "after", "parts": [{"text": "chunks 3"}]}}},
                headers=headers) as r:
            events = [json.loads(line[5:]) async for line in r.aiter_lines()
                      if line.startswith("data:")]
        assert events[-1]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


