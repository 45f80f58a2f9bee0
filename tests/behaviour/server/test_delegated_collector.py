"""Requests our agent hands to a2a-sdk's handler do not depend on the collector.

The lean handler delegates some requests to a2a-sdk's ``DefaultRequestHandler``
(server/fastpath.py): every request of an agent with push notifications, and a
continuation of a task stored earlier that no lean turn owns. docs/performance.md
("The collector and a2a-sdk's handler") records the suspicion this answers: that
a blocking SendMessage ending input-required could be answered with the task as
first stored when the cyclic collector finalized a2a-sdk's subscriber generator
mid-turn. Here each such conversation runs over Mosquitto under
``tests/collector.py``'s sweep (a full collection at every loop turn, the
finalizations it makes recorded): every reply must be the turn's input-required
task, and the collector must have found nothing unfinished to finalize.
"""

from __future__ import annotations

import uuid

import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import AgentCard, AgentSkill, Task, TaskStatus

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.server.fastpath import LeanRequestHandler
from a2a_mqtt.server.memstore import BoundedMemoryTaskStore
from tests.behaviour.conftest import requester_config, serve
from tests.collector import collector_sweep
from tests.lean_compare import S, scripted_card, status_update, user_request

pytestmark = pytest.mark.asyncio

TURNS = 3
# A full collection at every loop turn makes a reply slow on a loaded machine; this test is
# about what the reply says, so it waits long for it.
PATIENT = {"reply_first_timeout": 60.0}


class AsksAgain(AgentExecutor):
    """SUBMITTED (a new task only), WORKING, then INPUT_REQUIRED: every turn."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        tid, cid = str(context.task_id), str(context.context_id)
        if context.current_task is None:
            task = Task(id=tid, context_id=cid, status=TaskStatus(state=S.TASK_STATE_SUBMITTED))
            assert context.message is not None
            task.history.append(context.message)
            await event_queue.enqueue_event(task)
        await event_queue.enqueue_event(status_update(tid, cid, S.TASK_STATE_WORKING))
        await event_queue.enqueue_event(status_update(tid, cid, S.TASK_STATE_INPUT_REQUIRED))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def card(*, push: bool) -> AgentCard:
    c = scripted_card("AsksAgain", skills=[AgentSkill(id="ask", name="Ask", description="Asks",
                                                      tags=["test"])])
    c.capabilities.push_notifications = push
    return c


async def converse(client: A2AMqttClient, ref: AgentRef, task_id: str) -> list[str]:
    """TURNS blocking turns on one task; what is wrong with each reply (nothing: '')."""
    t = client.transport_for(ref)
    wrong: list[str] = []
    for n in range(TURNS):
        message_id = f"m{n}-{task_id}"
        reply = await t.send_message(user_request("x", message_id=message_id, task_id=task_id,
                                                  context_id=f"c-{task_id}"))
        task = reply.task if reply.HasField("task") else None
        if task is None or task.status.state != S.TASK_STATE_INPUT_REQUIRED \
                or message_id not in [m.message_id for m in task.history]:
            wrong.append(f"turn {n}: {reply}")
    return wrong


async def test_an_agent_with_push_notifications(broker: MosquittoProcess, ref: AgentRef) -> None:
    """Push notifications send every request to a2a-sdk's handler."""
    async with serve(broker.url, ref, AsksAgain(), card(push=True)) as agent, \
            A2AMqttClient(requester_config(broker.url, **PATIENT)) as client:
        assert isinstance(agent.request_handler, LeanRequestHandler)
        assert not agent.request_handler.lean
        async with collector_sweep() as sweep:
            wrong = await converse(client, ref, str(uuid.uuid4()))
    assert (wrong, sweep.found) == ([], [])
    assert sweep.collections > TURNS * 3  # the collector ran all through the turns


async def test_a_task_stored_before_the_agent_started(broker: MosquittoProcess,
                                                      ref: AgentRef) -> None:
    """A continuation of a stored task no lean turn owns goes to a2a-sdk's handler."""
    task_id = str(uuid.uuid4())
    store = BoundedMemoryTaskStore(max_tasks=10, max_bytes=10**6)
    await store.save(Task(id=task_id, context_id=f"c-{task_id}",
                          status=TaskStatus(state=S.TASK_STATE_INPUT_REQUIRED)),
                     ServerCallContext())
    async with serve(broker.url, ref, AsksAgain(), card(push=False), task_store=store) as agent, \
            A2AMqttClient(requester_config(broker.url, **PATIENT)) as client:
        assert isinstance(agent.request_handler, LeanRequestHandler)
        assert agent.request_handler.lean
        async with collector_sweep() as sweep:
            wrong = await converse(client, ref, task_id)
        assert not agent.request_handler.owns(task_id)
    assert (wrong, sweep.found) == ([], [])
    assert sweep.collections > TURNS * 3
