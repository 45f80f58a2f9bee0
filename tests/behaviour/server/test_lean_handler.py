"""The lean handler (the default) against a2a-sdk's handler, over real Mosquitto.

Two agents run the same scripted executor on one broker, one with
``fast_path=True`` (server/fastpath.py) and one with ``fast_path=False``
(a2a-sdk's DefaultRequestHandler), each on its own store (memory, or a SQLite
file: the durable store with its event stream). hypothesis generates the
request shapes: unary or streaming SendMessage, history limits, a second turn
after input-required, executors that work, add artifacts, fail, reject, raise,
or pause while a GetTask, CancelTask or SubscribeToTask arrives. The same
requests go to both; the replies, stream items, errors and stored tasks must
be the same (status timestamps aside: a2a-sdk stamps them from the clock).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from a2a.server.agent_execution import RequestContext
from a2a.server.cluster.task_store import StoredTask
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    AgentSkill,
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
)
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.server import AgentServer
from a2a_mqtt.server.fastpath import LeanRequestHandler
from tests.behaviour.conftest import requester_config, serve
from tests.lean_compare import (
    S,
    ScriptedExecutor,
    comparable,
    scripted_card,
    status_update,
    user_request,
)

pytestmark = pytest.mark.asyncio

STATE = {"working": S.TASK_STATE_WORKING, "input": S.TASK_STATE_INPUT_REQUIRED,
         "complete": S.TASK_STATE_COMPLETED, "fail": S.TASK_STATE_FAILED,
         "reject": S.TASK_STATE_REJECTED}
WAIT = 5.0


class Scripted(ScriptedExecutor):
    """Plays the script in the request's metadata; ids and texts are deterministic."""

    def __init__(self) -> None:
        self.paused: dict[str, asyncio.Event] = {}
        self.go: dict[str, asyncio.Event] = {}

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        tid, cid, script = await self.begin(context, event_queue)
        assert context.message is not None
        for i, step in enumerate(script):
            if step == "pause":
                self.paused.setdefault(tid, asyncio.Event()).set()
                await self.go.setdefault(tid, asyncio.Event()).wait()
            elif step == "raise":
                self.paused.setdefault(tid, asyncio.Event()).set()
                raise RuntimeError(f"scripted failure at step {i}")
            elif step in ("artifact", "append"):
                await event_queue.enqueue_event(TaskArtifactUpdateEvent(
                    task_id=tid, context_id=cid, append=step == "append",
                    artifact=Artifact(artifact_id="a0", parts=[Part(text=f"part {i}")])))
            else:
                await event_queue.enqueue_event(status_update(tid, cid, STATE[step], Message(
                    message_id=f"{tid}-{context.message.message_id}-{i}",
                    role=Role.ROLE_AGENT, task_id=tid, context_id=cid,
                    parts=[Part(text=step)])))
        self.paused.setdefault(tid, asyncio.Event()).set()


CARD = scripted_card("Scripted", skills=[AgentSkill(id="script", name="Script",
                                                   description="Plays it", tags=["test"])])

middle = st.lists(st.sampled_from(["working", "artifact", "append"]), max_size=3)
ending = st.sampled_from(["complete", "fail", "reject", "input", "raise", "working"])
script = st.builds(lambda a, pause, b, end: a + (["pause"] if pause else []) + b + [end],
                   middle, st.booleans(), middle, ending)
shape = st.fixed_dictionaries({
    "script": script,
    "then": st.one_of(st.none(), script),   # a second turn, if the first asks for input
    "stream": st.booleans(),
    "history": st.one_of(st.none(), st.integers(0, 2)),
    "probe": st.sampled_from(["none", "get", "cancel", "subscribe"]),
})


async def outcome(call: Any) -> Any:
    try:
        return comparable(await asyncio.wait_for(call, WAIT))
    except Exception as exc:
        return comparable(exc)


async def drain(stream: Any) -> Any:
    items: list[Any] = []
    try:
        async with asyncio.timeout(WAIT):
            async for item in stream:
                items.append(item)
    except Exception as exc:
        return [*comparable(items), comparable(exc)]
    return comparable(items)


async def settled(agent: AgentServer, task_id: str) -> None:
    """Until the stored task stops changing. a2a-sdk's consumer stores events behind
    its executor and offers nothing to await; the lean handler has stored them already."""
    store = agent.task_store
    assert store is not None
    ctx = ServerCallContext()
    last, stable = None, 0
    async with asyncio.timeout(WAIT):
        while stable < 3:
            got = await store.get(task_id, ctx)
            now = None if got is None else (got.task if isinstance(got, StoredTask) else got)
            stable = stable + 1 if now == last else 0
            last = now
            await asyncio.sleep(0.02)


async def conversation(client: A2AMqttClient, agent: AgentServer, ref: AgentRef,
                       ex: Scripted, shape: dict[str, Any], task_id: str) -> list[Any]:
    t = client.transport_for(ref)
    seen: list[Any] = []
    turns = [shape["script"]] + ([shape["then"]] if shape["then"] else [])
    for n, steps in enumerate(turns):
        if n and seen[-1] != "input":
            break
        request = user_request(json.dumps(steps), message_id=f"m{n}-{task_id}",
                               task_id=task_id, context_id=f"ctx-{task_id}",
                               history=shape["history"])
        ex.paused.pop(task_id, None)
        ex.go.pop(task_id, None)
        send = asyncio.create_task(
            drain(t.send_message_streaming(request)) if shape["stream"]
            else outcome(t.send_message(request)))
        paused = ex.paused.setdefault(task_id, asyncio.Event())
        await asyncio.wait_for(paused.wait(), WAIT)
        await settled(agent, task_id)
        sub = None
        if "pause" in steps and shape["probe"] == "get":
            seen.append(await outcome(t.get_task(GetTaskRequest(id=task_id))))
        elif "pause" in steps and shape["probe"] == "cancel":
            seen.append(await outcome(t.cancel_task(CancelTaskRequest(id=task_id))))
        elif "pause" in steps and shape["probe"] == "subscribe":
            stream = t.subscribe(SubscribeToTaskRequest(id=task_id))
            try:
                first = [comparable(await asyncio.wait_for(anext(stream), WAIT))]
            except Exception as exc:
                first = [comparable(exc)]
            sub = asyncio.create_task(drain(stream))
            seen.append(first)
        ex.go.setdefault(task_id, asyncio.Event()).set()
        seen.append(await send)
        if sub is not None:
            seen.append(await sub)
        stored = await outcome(t.get_task(GetTaskRequest(id=task_id)))
        seen.append(stored)
        done = Task()
        if stored[0] == "Task":
            done.ParseFromString(stored[1])
        seen.append("input" if done.status.state == S.TASK_STATE_INPUT_REQUIRED else "")
    return seen


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(shape=shape)
async def test_lean_and_full_handlers_answer_alike(
        broker: MosquittoProcess, ref: AgentRef, tmp_path: Path, store: str,
        shape: dict[str, Any]) -> None:
    note(repr(shape))
    results = []
    task_id = str(uuid.uuid4())  # the same Task.id on both agents (each has its own store)
    for lean in (True, False):
        name = AgentRef(ref.org, ref.unit, f"{ref.name}-{'lean' if lean else 'full'}")
        url = ("memory://" if store == "memory"
               else f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db")
        ex = Scripted()
        async with serve(broker.url, name, ex, CARD, task_store_url=url, fast_path=lean) \
                as agent, A2AMqttClient(requester_config(broker.url)) as client:
            assert isinstance(agent.request_handler, LeanRequestHandler) is lean
            results.append(await conversation(client, agent, name, ex, shape, task_id))
    assert results[0] == results[1]


async def test_the_lean_handler_is_the_default() -> None:
    from a2a_mqtt.server import AgentConfig

    config = AgentConfig(ref=AgentRef("o", "u", "a"), card=CARD, executor=Scripted())
    assert config.fast_path is True
