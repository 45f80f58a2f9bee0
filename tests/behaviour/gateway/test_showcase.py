"""The showcase agent behind the gateway answers the A2A TCK's scenarios as the TCK expects.

The requests are raw JSON-RPC, as the conformance kit sends them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.server import AgentServer
from tests.behaviour.gateway.conftest import agent_url, known

pytestmark = pytest.mark.asyncio

V1 = {"A2A-Version": "1.0"}


def _call(prefix: str, method: str = "SendMessage", **extra: Any) -> dict[str, Any]:
    msg = {"role": "ROLE_USER", "parts": [{"text": "TCK"}],
           "messageId": f"{prefix}-{uuid.uuid4().hex[:8]}", **extra}
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": msg}}


async def _stream(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> list[Any]:
    async with http.stream("POST", url, json=body, headers=V1) as r:
        return [json.loads(line[5:])["result"] async for line in r.aiter_lines()
                if line.startswith("data:")]


@pytest.mark.parametrize(("prefix", "check"), [
    ("tck-complete-task", lambda t: t["status"]["message"]["parts"][0]["text"]
     == "Hello from TCK"),
    ("tck-artifact-text", lambda t: t["artifacts"][0]["parts"][0]["text"]
     == "Generated text content"),
    ("tck-artifact-file-url", lambda t: t["artifacts"][0]["parts"][0]
     == {"url": "https://example.com/output.txt", "mediaType": "text/plain",
         "filename": "output.txt"}),
    ("tck-artifact-file", lambda t: t["artifacts"][0]["parts"][0]
     == {"raw": "dGNr", "mediaType": "text/plain", "filename": "output.txt"}),
    ("tck-artifact-data", lambda t: t["artifacts"][0]["parts"][0]["data"]
     == {"key": "value", "count": 42}),
    ("tck-input-required", lambda t: t["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"),
    ("tck-reject-task", lambda t: t["status"]["state"] == "TASK_STATE_REJECTED"),
])
async def test_unary_scenarios(http: httpx.AsyncClient, gateway: GatewayServer,
                               showcase: AgentServer, ref: AgentRef, prefix: str,
                               check: Any) -> None:
    await known(gateway, ref)
    r = await http.post(agent_url(gateway, ref), json=_call(prefix), headers=V1)
    task = r.json()["result"]["task"]
    assert check(task), task
    assert task["id"] and task["contextId"]


async def test_message_response_and_streaming_scenarios(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef) -> None:
    await known(gateway, ref)
    url = agent_url(gateway, ref)
    r = await http.post(url, json=_call("tck-message-response"), headers=V1)
    assert r.json()["result"]["message"]["parts"][0]["text"] == "Direct message response"

    def kinds(results: list[Any]) -> list[str]:
        out = []
        for result in results:
            kind = next(iter(result))
            state = result[kind].get("status", {}).get("state", "")
            out.append(f"{kind}:{state.removeprefix('TASK_STATE_')}".rstrip(":"))
        return out

    assert kinds(await _stream(http, url, _call("tck-stream-001", "SendStreamingMessage"))) == [
        "task:SUBMITTED", "statusUpdate:WORKING", "artifactUpdate", "statusUpdate:COMPLETED"]
    assert kinds(await _stream(http, url, _call("tck-stream-002", "SendStreamingMessage"))) == [
        "task:SUBMITTED", "statusUpdate:COMPLETED"]
    chunked = await _stream(http, url, _call("tck-stream-artifact-chunked",
                                             "SendStreamingMessage"))
    updates = [r["artifactUpdate"] for r in chunked if "artifactUpdate" in r]
    assert [(u["artifact"]["parts"][0]["text"], u.get("append", False),
             u.get("lastChunk", False)) for u in updates] == [
        ("chunk-1 ", False, False), ("chunk-2", True, True)]


async def test_resubscribe_scenario_outlives_the_streaming_timeout(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCK_STREAMING_TIMEOUT", "0.5")  # the task then runs 1 s
    await known(gateway, ref)
    url = agent_url(gateway, ref)
    async with http.stream("POST", url, json=_call("test-resubscribe-message-id",
                                                   "SendStreamingMessage"), headers=V1) as r:
        lines = (line async for line in r.aiter_lines() if line.startswith("data:"))
        task_id = json.loads((await anext(lines))[5:])["result"]["task"]["id"]
        body = {"jsonrpc": "2.0", "id": 2, "method": "SubscribeToTask",
                "params": {"id": task_id}}
        resubscribed = await _stream(http, url, body)
    assert resubscribed[0]["task"]["id"] == task_id  # the current Task first
    assert resubscribed[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
