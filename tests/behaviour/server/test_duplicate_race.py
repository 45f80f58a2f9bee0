"""A retried stream whose task finishes while the retry is being answered (binding §6.2).

The responder reads the stored task, finds it still running and re-attaches the retry as
a subscription; if the task ends in between, the retry must get the finished task (one
reply with ``a2a-stream-end``), never "task is in terminal state". Seen in CI as a
workflow step run twice after a broker restart: the supervisor's re-send got that error,
failed the attempt and retried the step under a new Task.id.

The window is opened deterministically: the agent's own task store (a real in-memory
store with a hook) lets the running turn finish between the retry's read and its
subscription.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import Part, Task, TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import _updater, echo_card
from tests.behaviour.conftest import serve, text

pytestmark = pytest.mark.asyncio

DONE = TaskState.TASK_STATE_COMPLETED


class GatedExecutor(AgentExecutor):
    """Reports working, then completes only once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.executions = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.executions += 1
        updater = await _updater(context, event_queue)
        await updater.start_work()
        await self.release.wait()
        await updater.add_artifact([Part(text="done")], name="result", last_chunk=True)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


class RacingStore(InMemoryTaskStore):
    """Once armed, the next read returns the task as it was, after letting it finish."""

    def __init__(self, executor: GatedExecutor) -> None:
        super().__init__()
        self.executor = executor
        self.armed = False
        self.finished = asyncio.Event()
        self.raced = 0

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await super().save(task, context)
        if task.status.state == DONE:
            self.finished.set()

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        task = await super().get(task_id, context)
        if self.armed and task is not None and task.status.state != DONE:
            self.armed = False
            self.raced += 1
            self.executor.release.set()
            await asyncio.wait_for(self.finished.wait(), 10)
        return task


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "full-handler"])
async def test_a_retried_stream_of_a_task_finishing_meanwhile_gets_the_finished_task(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef, fast_path: bool) -> None:
    executor = GatedExecutor()
    store = RacingStore(executor)
    request = text("once", task_id=str(uuid.uuid4()), context_id=str(uuid.uuid4()))
    async with serve(broker.url, ref, executor, echo_card(), task_store=store,
                     fast_path=fast_path):
        a2a = await client.connect(ref)
        first = a2a.send_message(request)
        seen = []
        async for event in first:
            seen.append(event.WhichOneof("payload"))
            if event.HasField("status_update"):
                break                          # the original turn is running
        store.armed = True
        retried = [event async for event in a2a.send_message(request)]
        rest = [event async for event in first]
    assert store.raced == 1                    # the window was really opened
    assert executor.executions == 1
    assert len(retried) == 1 and retried[0].HasField("task")
    assert retried[0].task.status.state == DONE
    assert retried[0].task.artifacts[0].parts[0].text == "done"
    assert rest[-1].status_update.status.state == DONE
