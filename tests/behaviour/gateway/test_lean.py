"""The lean JSON-RPC path answers ``SendMessage`` (and its streaming form) as a2a-sdk's
route does.

Two gateways on one broker, in front of the same showcase agent: one with the
lean path (the default), one with ``lean_jsonrpc=False`` (a2a-sdk's JSON-RPC
route, as before). Each scenario runs against both and the answers must be
the same: HTTP status, content type, headers that matter, and the JSON body
once generated ids and timestamps are masked. A counter on the handler shows
which path each gateway took, so the comparison cannot pass by both taking
the same one.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.gateway.proxy import MqttProxyHandler
from a2a_mqtt.server import AgentServer
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import agent_url, known, open_gateway

pytestmark = pytest.mark.asyncio

V1 = {"A2A-Version": "1.0"}
EXTENSION = "urn:example:lean-test:required"
_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")

Answer = tuple[int, str | None, str | None, Any]
Scenario = Callable[[httpx.AsyncClient, str], Awaitable[list[Answer]]]


def _mask(value: Any) -> Any:
    """Generated ids and timestamps differ between two runs: masked, everything else kept."""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str):
        return _VOLATILE.sub("<x>", value)
    return value


def _rpc(message: dict[str, Any], *, rid: Any = 1, extra: dict[str, Any] | None = None,
         drop_id: bool = False) -> dict[str, Any]:
    params = {"message": {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, **message},
              **(extra or {})}
    body = {"jsonrpc": "2.0", "id": rid, "method": "SendMessage", "params": params}
    if drop_id:
        del body["id"]
    return body


async def _post(http: httpx.AsyncClient, url: str, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> tuple[Answer, Any]:
    r = await http.post(url, json=body, headers=V1 if headers is None else headers)
    data = r.json()
    answer = (r.status_code, r.headers.get("content-type"), r.headers.get("retry-after"),
              _mask(data))
    return answer, data


def _text(text: str, **more: Any) -> dict[str, Any]:
    return {"parts": [{"text": text}], **more}


async def _one(http: httpx.AsyncClient, url: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> list[Answer]:
    return [(await _post(http, url, body, headers))[0]]


async def _continuations(http: httpx.AsyncClient, url: str) -> list[Answer]:
    """input-required, then a wrong contextId, an inferred one, a terminal task."""
    first, data = await _post(http, url, _rpc(_text("ask")))
    task = data["result"]["task"]
    wrong, _ = await _post(http, url, _rpc(_text("more", taskId=task["id"],
                                                 contextId="other-context")))
    inferred, data = await _post(http, url, _rpc(_text("done", taskId=task["id"])))
    done = data["result"]["task"]
    again, _ = await _post(http, url, _rpc(_text("again", taskId=done["id"],
                                                 contextId=done["contextId"])))
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    return [first, wrong, inferred, again]


async def _sse(http: httpx.AsyncClient, url: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> list[Answer]:
    """A streaming call: the SSE events (``event``, masked ``data``), or the JSON answer."""
    body = {**body, "method": "SendStreamingMessage"}
    async with http.stream("POST", url, json=body,
                           headers=V1 if headers is None else headers) as r:
        ctype = r.headers.get("content-type")
        if not (ctype or "").startswith("text/event-stream"):
            data = json.loads(await r.aread())
            return [(r.status_code, ctype, r.headers.get("retry-after"), _mask(data))]
        events: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                current["event"] = line[6:].strip()
            elif line.startswith("data:"):
                current["data"] = _mask(json.loads(line[5:]))
            elif not line and current:
                events.append(current)
                current = {}
        return [(r.status_code, ctype, r.headers.get("cache-control"), events)]


SCENARIOS: dict[str, Scenario] = {
    "echo, integer id": lambda h, u: _one(h, u, _rpc(_text("hello lean"))),
    "string id": lambda h, u: _one(h, u, _rpc(_text("s"), rid="req-7")),
    "null id": lambda h, u: _one(h, u, _rpc(_text("n"), rid=None)),
    "no id": lambda h, u: _one(h, u, _rpc(_text("n"), drop_id=True)),
    "a Message answer": lambda h, u: _one(h, u, _rpc(_text("message"))),
    "artifacts of every part kind": lambda h, u: _one(h, u, _rpc(_text("parts"))),
    "a failed task": lambda h, u: _one(h, u, _rpc(_text("fail"))),
    "snake_case members, null ids": lambda h, u: _one(h, u, {
        "jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": {"message": {
            "message_id": uuid.uuid4().hex, "role": "ROLE_USER", "task_id": None,
            "context_id": "", "parts": [{"text": "snake"}]}}}),
    "unknown members are ignored": lambda h, u: _one(h, u, _rpc(
        _text("future", futureField=1), extra={"futureParam": {"x": 1}})),
    "configuration and metadata": lambda h, u: _one(h, u, _rpc(
        _text("cfg"), extra={"configuration": {"historyLength": 0},
                             "metadata": {"k": ["v", 1.5, None]}})),
    "unicode text": lambda h, u: _one(h, u, _rpc(_text("h\u00e9llo \U0001f600 \u2028"))),
    "no A2A-Version": lambda h, u: _one(h, u, _rpc(_text("v")), headers={}),
    "A2A-Version 2.0": lambda h, u: _one(h, u, _rpc(_text("v")),
                                         headers={"A2A-Version": "2.0"}),
    "A2A-Version 1.1": lambda h, u: _one(h, u, _rpc(_text("v")),
                                         headers={"A2A-Version": "1.1"}),
    "unknown task": lambda h, u: _one(h, u, _rpc(_text("x", taskId="no-such-task"))),
    "undeclared media type": lambda h, u: _one(h, u, _rpc(
        {"parts": [{"text": "x", "mediaType": "image/x-lean-test"}]})),
    "continuations": _continuations,
    "stream: echo": lambda h, u: _sse(h, u, _rpc(_text("streamed lean"))),
    "stream: chunks": lambda h, u: _sse(h, u, _rpc(_text("chunks 3"), rid="s-1")),
    "stream: a Message": lambda h, u: _sse(h, u, _rpc(_text("message"))),
    "stream: a failed task": lambda h, u: _sse(h, u, _rpc(_text("fail"))),
    "stream: input-required": lambda h, u: _sse(h, u, _rpc(_text("ask"))),
    "stream: no A2A-Version": lambda h, u: _sse(h, u, _rpc(_text("v")), headers={}),
    "stream: unknown task": lambda h, u: _sse(h, u, _rpc(_text("x", taskId="no-such"))),
    "stream: undeclared media type": lambda h, u: _sse(h, u, _rpc(
        {"parts": [{"text": "x", "mediaType": "image/x-lean-test"}]})),
}


class _Counting:
    """Counts the handler entry point each path uses (the lean one or a2a-sdk's)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lean = self.full = 0
        lean, full = MqttProxyHandler.send_message_json, MqttProxyHandler.on_message_send
        lean_stream = MqttProxyHandler.send_message_stream_json
        full_stream = MqttProxyHandler.on_message_send_stream

        async def lean_spy(handler: MqttProxyHandler, *args: Any) -> Any:
            self.lean += 1
            return await lean(handler, *args)

        async def full_spy(handler: MqttProxyHandler, *args: Any) -> Any:
            self.full += 1
            return await full(handler, *args)

        async def lean_stream_spy(handler: MqttProxyHandler, *args: Any) -> Any:
            self.lean += 1
            async for event in lean_stream(handler, *args):
                yield event

        async def full_stream_spy(handler: MqttProxyHandler, *args: Any) -> Any:
            self.full += 1
            async for event in full_stream(handler, *args):
                yield event

        monkeypatch.setattr(MqttProxyHandler, "send_message_json", lean_spy)
        monkeypatch.setattr(MqttProxyHandler, "on_message_send", full_spy)
        monkeypatch.setattr(MqttProxyHandler, "send_message_stream_json", lean_stream_spy)
        monkeypatch.setattr(MqttProxyHandler, "on_message_send_stream", full_stream_spy)


@pytest_asyncio.fixture
async def gateways(broker: MosquittoProcess) -> AsyncIterator[tuple[GatewayServer,
                                                                    GatewayServer]]:
    async with open_gateway(broker.url) as lean, \
            open_gateway(broker.url, lean_jsonrpc=False) as full:
        yield lean, full


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_lean_and_full_paths_answer_alike(
        http: httpx.AsyncClient, gateways: tuple[GatewayServer, GatewayServer],
        showcase: AgentServer, ref: AgentRef, name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lean, full = gateways
    for gw in gateways:
        await known(gw, ref)
    counts = _Counting(monkeypatch)
    via_lean = await SCENARIOS[name](http, agent_url(lean, ref))
    assert counts.full == 0
    used_lean = counts.lean
    via_full = await SCENARIOS[name](http, agent_url(full, ref))
    assert counts.lean == used_lean, "the full gateway took the lean path"
    assert via_lean == via_full
    if "A2A-Version" not in name or "1.1" in name:  # else refused before the handler
        assert used_lean > 0 and counts.full > 0


async def test_required_extension_and_offline_agent_answer_alike(
        broker: MosquittoProcess, http: httpx.AsyncClient,
        gateways: tuple[GatewayServer, GatewayServer], unique_id: str) -> None:
    ref = AgentRef("test", "unit", f"ext-{unique_id}")
    answers: dict[str, list[Answer]] = {}
    async with serve(broker.url, ref, ShowcaseExecutor(),
                     showcase_card(required_extension=EXTENSION)):
        for gw in gateways:
            await known(gw, ref)
        for gw, label in zip(gateways, ("lean", "full"), strict=True):
            url = agent_url(gw, ref)
            answers[label] = [
                *await _one(http, url, _rpc(_text("no extension"))),
                *await _one(http, url, _rpc(_text("with it")),
                            headers={**V1, "A2A-Extensions": EXTENSION}),
            ]
    for gw in gateways:
        await known(gw, ref, online=False)
    for gw, label in zip(gateways, ("lean", "full"), strict=True):
        answers[label] += await _one(http, agent_url(gw, ref), _rpc(_text("offline")))
    assert answers["lean"] == answers["full"]
    codes = [a[3].get("error", {}).get("code") for a in answers["lean"]]
    assert codes == [-32008, None, -32603]
    assert answers["lean"][2][:3] == (503, "application/json", "5")
