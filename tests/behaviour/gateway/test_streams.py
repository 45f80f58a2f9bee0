"""SSE through the gateway: framing, several subscribers, vanished and slow readers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    Part,
    SubscribeToTaskRequest,
    TaskState,
)

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.server import AgentServer
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import (
    agent_url,
    gateway_card,
    known,
    message,
    stock_client,
)

pytestmark = pytest.mark.asyncio

V1 = {"A2A-Version": "1.0"}


def _send(text: str, method: str = "SendStreamingMessage") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": "req-1", "method": method,
            "params": {"message": {"messageId": f"m-{text}", "role": "ROLE_USER",
                                   "parts": [{"text": text}]}}}


async def _sse(response: httpx.Response) -> list[tuple[str, Any]]:
    """Every (event name, parsed data) of an SSE response, read to its end."""
    events: list[tuple[str, Any]] = []
    name = "message"
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line[5:].strip())))
            name = "message"
    return events


async def test_json_rpc_and_rest_sse_framing(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef) -> None:
    await known(gateway, ref)
    url = agent_url(gateway, ref)
    async with http.stream("POST", url, json=_send("hello"), headers=V1) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = await _sse(r)
    assert all(name == "message" and e["jsonrpc"] == "2.0" and e["id"] == "req-1"
               for name, e in events)
    results = [e["result"] for _, e in events]
    assert list(results[0]) == ["task"]
    assert results[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"

    body = _send("hello")["params"]
    async with http.stream("POST", f"{url}/rest/message:stream", json=body, headers=V1) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        rest = [e for _, e in await _sse(r)]
    assert [next(iter(e)) for e in rest] == [next(iter(e)) for e in results]


async def test_two_subscribers_see_the_same_events_and_one_leaving_does_not_matter(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding)
    stream = client.send_message(message("slow 2"))
    task = (await anext(stream)).task
    one = client.subscribe(SubscribeToTaskRequest(id=task.id))
    two = client.subscribe(SubscribeToTaskRequest(id=task.id))
    assert (await anext(one)).task.id == task.id
    assert (await anext(two)).task.id == task.id
    await one.aclose()  # the first subscriber leaves early
    rest_two = [e async for e in two]
    rest_stream = [e async for e in stream]
    assert rest_two[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert rest_stream[-1] == rest_two[-1]


async def test_vanished_reader_frees_the_stream_and_leaves_the_task_running(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef) -> None:
    await known(gateway, ref)
    async with http.stream("POST", agent_url(gateway, ref), json=_send("slow 2"),
                           headers=V1) as r:
        lines = r.aiter_lines()
        first = await anext(line async for line in lines if line.startswith("data:"))
        task_id = json.loads(first[5:])["result"]["task"]["id"]
        assert gateway.gateway.inflight.open_streams == 1
    # The connection is gone: the gateway drops the stream (and its MQTT correlation)...
    await gateway.gateway.inflight.wait_idle(5.0)
    assert gateway.gateway.inflight.open_streams == 0
    assert not gateway.gateway.mqtt.requester._calls  # no correlation left behind
    # ...but never cancels the agent's task: it runs to completion.
    card = await gateway_card(http, gateway, ref)
    events = [e async for e in stock_client(http, card, "JSONRPC").subscribe(
        SubscribeToTaskRequest(id=task_id))]
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


class Flood(AgentExecutor):
    """Streams ``count`` artifact chunks of ``size`` bytes each."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size = count, size

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if "quick" not in context.get_user_input():
            for i in range(self.count):
                await updater.add_artifact([Part(text=f"{i:06d}" + "x" * self.size)],
                                           artifact_id="flood", append=i > 0,
                                           last_chunk=i == self.count - 1)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to stop."""


def _flood_card() -> AgentCard:
    return AgentCard(name="Flood", description="Streams a lot.", version="1.0.0",
                     capabilities=AgentCapabilities(streaming=True),
                     skills=[AgentSkill(id="f", name="f", description="f", tags=["t"])])


async def test_slow_reader_does_not_block_other_clients(
        broker: MosquittoProcess, http: httpx.AsyncClient, gateway: GatewayServer,
        ref: AgentRef) -> None:
    count = 150
    async with serve(broker.url, ref, Flood(count, 48 * 1024), _flood_card()):
        await known(gateway, ref)
        url = agent_url(gateway, ref)
        async with httpx.AsyncClient(timeout=30.0) as slow_http, slow_http.stream(
                "POST", url, json=_send("flood"), headers=V1) as r:
            lines = r.aiter_lines()
            assert (await anext(lines)).startswith("data:")
            # This reader now stops reading (~7 MB are on their way); others go on.
            async with asyncio.timeout(15):
                for i in range(10):
                    done = await http.post(url, json=_send(f"quick {i}", "SendMessage"),
                                           headers=V1)
                    state = done.json()["result"]["task"]["status"]["state"]
                    assert state == "TASK_STATE_COMPLETED"
            # Resuming, the slow reader still gets every event, in order.
            seen = [json.loads(line[5:])["result"] async for line in lines
                    if line.startswith("data:")]
    chunks = [e["artifactUpdate"]["artifact"]["parts"][0]["text"][:6] for e in seen
              if "artifactUpdate" in e]
    assert chunks == [f"{i:06d}" for i in range(count)]
    assert seen[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
