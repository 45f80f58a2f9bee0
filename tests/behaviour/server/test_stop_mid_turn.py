"""A stop that outlasts its grace leaves the turn to recovery, on every request path.

a2a-sdk 1.3.0 swallows the request task's cancellation (server/keepcancel.py): its
``on_message_send`` then returns the task as stored, and its streams end quietly.
Unchecked, the stop would publish that stale task (or a bare end marker) as the
reply and release the in-flight entry, so the requester would take a WORKING task
for an answer and the restarted agent would never tell it the turn was lost. Checked,
the requester hears nothing from the stopped run, and the next run fails the task and
answers it, once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import Task, TaskState, TaskStatus

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.conftest import requester_config, serve, text

pytestmark = pytest.mark.asyncio

WORKING = TaskState.TASK_STATE_WORKING
FAILED = TaskState.TASK_STATE_FAILED


class Stuck(AgentExecutor):
    """The task, WORKING; then waits until cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        await event_queue.enqueue_event(Task(
            id=str(context.task_id), context_id=str(context.context_id),
            status=TaskStatus(state=WORKING)))
        self.started.set()
        await asyncio.Event().wait()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


@pytest.mark.parametrize("fast_path", [False, True], ids=["a2a-sdk-handler", "lean-handler"])
async def test_a_send_cut_by_the_stop_is_answered_by_recovery_only(
        broker: MosquittoProcess, ref: AgentRef, tmp_path: Path, fast_path: bool) -> None:
    store = f"sqlite:///{tmp_path}/agent.db"
    stuck = Stuck()
    async with A2AMqttClient(requester_config(broker.url, reply_first_timeout=30.0)) as mqtt:
        async with serve(broker.url, ref, stuck, echo_card(), task_store_url=store,
                         fast_path=fast_path, shutdown_grace=0.1):
            send = asyncio.create_task(mqtt.transport_for(ref).send_message(text("hold")))
            await asyncio.wait_for(stuck.started.wait(), 10)
        # The first run is gone: whatever it published has been delivered by now
        # (QoS 1 through one broker, in order before its DISCONNECT).
        assert not send.done(), f"the stopped run answered: {send.result()}"
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=store,
                         fast_path=fast_path):
            answer = await asyncio.wait_for(send, 10)
    assert answer.task.status.state == FAILED
    assert "restarted" in answer.task.status.message.parts[0].text


@pytest.mark.parametrize("fast_path", [False, True], ids=["a2a-sdk-handler", "lean-handler"])
async def test_a_stream_cut_by_the_stop_gets_no_end_marker_from_it(
        broker: MosquittoProcess, ref: AgentRef, tmp_path: Path, fast_path: bool) -> None:
    store = f"sqlite:///{tmp_path}/agent.db"
    stuck = Stuck()
    states: list[int] = []
    async with A2AMqttClient(requester_config(broker.url, stream_idle_timeout=30.0)) as mqtt:

        async def read() -> None:
            async for event in mqtt.transport_for(ref).send_message_streaming(text("hold")):
                which = event.WhichOneof("payload")
                states.append(event.task.status.state if which == "task"
                              else event.status_update.status.state)

        async with serve(broker.url, ref, stuck, echo_card(), task_store_url=store,
                         fast_path=fast_path, shutdown_grace=0.1):
            stream = asyncio.create_task(read())
            await asyncio.wait_for(stuck.started.wait(), 10)
        assert not stream.done(), f"the stopped run ended the stream: {states}"
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=store,
                         fast_path=fast_path):
            await asyncio.wait_for(stream, 10)
    assert states[0] == WORKING
    assert states[-1] == FAILED
