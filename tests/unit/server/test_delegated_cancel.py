"""A cancelled SendMessage that the lean handler delegates to a2a-sdk stays cancelled.

a2a-sdk 1.3.0's ``ActiveTask.subscribe`` swallows ``CancelledError``; its
``on_message_send`` then returns the task as stored at that moment (here: as first
stored, SUBMITTED). That is what the equivalence tests saw when the collector slowed a
turn past their one-second ``wait_for`` (docs/performance.md, "The collector and
a2a-sdk's handler"). ``LeanRequestHandler`` re-raises the cancellation (server/keepcancel.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import InMemoryPushNotificationConfigStore
from a2a.types.a2a_pb2 import Task, TaskStatus

from a2a_mqtt.server.fastpath import LeanRequestHandler
from a2a_mqtt.server.memstore import BoundedMemoryTaskStore
from a2a_mqtt.server.taskids import REQUESTED_TASK_ID, RequesterTaskIdBuilder
from tests.lean_compare import S, scripted_card, status_update, user_request


class Paused(AgentExecutor):
    """The Task, then waits; REJECTED when let go."""

    def __init__(self) -> None:
        self.paused = asyncio.Event()
        self.go = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        tid, cid = str(context.task_id), str(context.context_id)
        await event_queue.enqueue_event(
            Task(id=tid, context_id=cid, status=TaskStatus(state=S.TASK_STATE_SUBMITTED)))
        self.paused.set()
        await self.go.wait()
        await event_queue.enqueue_event(status_update(tid, cid, S.TASK_STATE_REJECTED))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


async def cancel_mid_turn(handler_cls: type[DefaultRequestHandler]) -> Any:
    executor = Paused()
    card = scripted_card()
    card.capabilities.push_notifications = True
    handler = handler_cls(agent_executor=executor, agent_card=card,
                          task_store=BoundedMemoryTaskStore(max_tasks=10, max_bytes=10**6),
                          push_config_store=InMemoryPushNotificationConfigStore(),
                          request_context_builder=RequesterTaskIdBuilder())
    call = ServerCallContext(state={REQUESTED_TASK_ID: "t"})
    send = asyncio.create_task(handler.on_message_send(
        user_request("x", message_id="m", context_id="c"), call))
    try:
        await executor.paused.wait()
        send.cancel()
        try:
            return await send
        except asyncio.CancelledError:
            return "cancelled"
    finally:
        executor.go.set()
        await handler.aclose()


def test_a2a_sdk_answers_a_cancelled_send_with_the_task_as_first_stored() -> None:
    """Why the lean handler's delegation checks (if a2a-sdk changes, this fails)."""
    reply = asyncio.run(cancel_mid_turn(DefaultRequestHandler))
    assert isinstance(reply, Task) and reply.status.state == S.TASK_STATE_SUBMITTED


def test_a_delegated_send_cancelled_mid_turn_stays_cancelled() -> None:
    handler_cls: Any = LeanRequestHandler
    assert asyncio.run(cancel_mid_turn(handler_cls)) == "cancelled"


@pytest.mark.parametrize("rounds", [20])
def test_it_is_so_every_time(rounds: int) -> None:
    handler_cls: Any = LeanRequestHandler
    assert [asyncio.run(cancel_mid_turn(handler_cls)) for _ in range(rounds)] == \
        ["cancelled"] * rounds
