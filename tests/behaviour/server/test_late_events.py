"""Events an executor enqueues after its turn ended, lean handler against a2a-sdk's.

An executor may hand its event queue to background work that outlives the turn.
The lean handler's queue holds its task weakly (server/leantask.py,
``_InlineQueue``): once a finished task is no longer held, a late event finds no
owner and is dropped; while it is still held, the task is closed and drops it. Either
way the outcome must be a2a-sdk's: what a late event does to the stored task, and
whether enqueueing it raises, is the same for both handlers, on the memory store and
on SQLite. The cyclic collector runs before the late events go, so the lean task is
gone if nothing holds it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    Artifact,
    GetTaskRequest,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
)

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.server.fastpath import LeanRequestHandler
from tests.behaviour.conftest import requester_config, serve
from tests.behaviour.server.test_lean_handler import CARD, WAIT, outcome, settled
from tests.lean_compare import S, ScriptedExecutor, status_update, user_request

pytestmark = pytest.mark.asyncio

ENDINGS = {"complete": S.TASK_STATE_COMPLETED, "fail": S.TASK_STATE_FAILED,
           "reject": S.TASK_STATE_REJECTED, "input": S.TASK_STATE_INPUT_REQUIRED}


class Lingering(ScriptedExecutor):
    """Ends its turn as the request's text says, leaving work behind that enqueues
    an artifact and a WORKING status into the same queue once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.late: asyncio.Task[str] | None = None

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        tid, cid, ending = await self.begin(context, event_queue)

        async def linger() -> str:
            await self.release.wait()
            try:
                await event_queue.enqueue_event(TaskArtifactUpdateEvent(
                    task_id=tid, context_id=cid,
                    artifact=Artifact(artifact_id="late", parts=[Part(text="late")])))
                await event_queue.enqueue_event(status_update(tid, cid, S.TASK_STATE_WORKING))
            except Exception as exc:  # compared across handlers, whatever it is
                return type(exc).__name__
            return "enqueued"

        self.late = asyncio.create_task(linger(), name="late-events")
        await event_queue.enqueue_event(status_update(tid, cid, ENDINGS[ending], Message(
            message_id=f"{tid}-end", role=Role.ROLE_AGENT, task_id=tid, context_id=cid,
            parts=[Part(text=ending)])))


async def run_one(broker: MosquittoProcess, name: AgentRef, url: str, lean: bool,
                  ending: str, task_id: str) -> tuple[list[Any], Task]:
    ex = Lingering()
    async with serve(broker.url, name, ex, CARD, task_store_url=url, fast_path=lean) \
            as agent, A2AMqttClient(requester_config(broker.url)) as client:
        assert isinstance(agent.request_handler, LeanRequestHandler) is lean
        t = client.transport_for(name)
        request = user_request(json.dumps(ending), message_id=f"m-{task_id}",
                               task_id=task_id, context_id=f"ctx-{task_id}")
        seen = [await outcome(t.send_message(request))]
        await settled(agent, task_id)
        before = await outcome(t.get_task(GetTaskRequest(id=task_id)))
        gc.collect()  # a lean task nothing holds any more is gone before the late events
        ex.release.set()
        assert ex.late is not None
        seen.append(await asyncio.wait_for(ex.late, WAIT))
        await settled(agent, task_id)
        after = await outcome(t.get_task(GetTaskRequest(id=task_id)))
        seen += [before, after]
        stored = Task()
        assert after[0] == "Task", after
        stored.ParseFromString(after[1])
        return seen, stored


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
async def test_late_events_fare_as_with_a2a_sdk(broker: MosquittoProcess, ref: AgentRef,
                                                tmp_path: Path, store: str,
                                                ending: str) -> None:
    task_id = str(uuid.uuid4())
    results: list[tuple[list[Any], Task]] = []
    for lean in (True, False):
        name = AgentRef(ref.org, ref.unit, f"{ref.name}-{'lean' if lean else 'full'}")
        url = ("memory://" if store == "memory"
               else f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db")
        results.append(await run_one(broker, name, url, lean, ending, task_id))
    (lean_seen, lean_task), (full_seen, _) = results
    assert lean_seen == full_seen
    if ending != "input":
        # A finished task stays as it finished: nothing late reaches the store.
        assert lean_task.status.state == ENDINGS[ending]
        assert all(a.artifact_id != "late" for a in lean_task.artifacts)
        assert lean_seen[2] == lean_seen[3]
