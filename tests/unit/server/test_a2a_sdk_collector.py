"""a2a-sdk's handler leaves two pending tasks to the collector when it refuses a turn.

A SendMessage naming a finished task makes a2a-sdk 1.3.0's handler build an
``ActiveTask`` (its constructor starts a dispatcher task for each of its two event
queues) and then refuse it in ``ActiveTask.start``; nothing stops those dispatchers,
the registry drops the ActiveTask, and the dispatchers stay pending, reachable only
through reference cycles, until the collector destroys them ("Task was destroyed but
it is pending!"). Our dispatcher answers a SendMessage to a finished task from the
store before any handler (docs/binding.md §6.2), so over MQTT only a CancelTask that
finishes the task between the dispatcher's read and a2a-sdk's could reach this
(docs/performance.md, "The collector and a2a-sdk's handler"). The test is strict
xfail: it starts passing, and so fails, when a2a-sdk stops the dispatchers.
"""

from __future__ import annotations

import asyncio

import pytest
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.types.a2a_pb2 import Task, TaskStatus
from a2a.utils.errors import UnsupportedOperationError

from a2a_mqtt.server.memstore import BoundedMemoryTaskStore
from tests.collector import collector_sweep
from tests.lean_compare import S, scripted_card, user_request


class Never(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise AssertionError("a finished task takes no turn")

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise AssertionError("not called")


async def refuse_a_finished_task() -> list[str]:
    store = BoundedMemoryTaskStore(max_tasks=10, max_bytes=10**6)
    call = ServerCallContext()
    await store.save(Task(id="t", context_id="c",
                          status=TaskStatus(state=S.TASK_STATE_COMPLETED)), call)
    handler = DefaultRequestHandler(agent_executor=Never(), task_store=store,
                                    agent_card=scripted_card())
    try:
        async with collector_sweep() as sweep:
            with pytest.raises(UnsupportedOperationError, match="terminal state"):
                await handler.on_message_send(
                    user_request("x", message_id="m", task_id="t", context_id="c"), call)
            for _ in range(5):  # the registry drops the refused ActiveTask
                await asyncio.sleep(0)
    finally:
        await handler.aclose()
    return sweep.found


@pytest.mark.xfail(strict=True, reason="a2a-sdk 1.3.0 leaves a refused ActiveTask's "
                                       "queue dispatchers pending (upstream report: "
                                       "docs/performance.md)")
def test_a_refused_turn_leaves_the_collector_nothing_unfinished() -> None:
    assert asyncio.run(refuse_a_finished_task()) == []


def test_the_refused_turn_leaves_exactly_its_two_dispatchers() -> None:
    """What the xfail above sees today, so that it fails for this reason only."""
    assert asyncio.run(refuse_a_finished_task()) == [
        "pending task EventQueueSource._dispatch_loop destroyed by the collector"] * 2
