"""The one trivial A2A executor and its card: the work every A2A variant runs.

Every A2A variant runs exactly this work per request, so a comparison measures
the plumbing around it: the executor enqueues the Task, adds one artifact
holding the input text, and completes. Importing this imports a2a-sdk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part

__all__ = ["BENCH_TEXT", "BenchExecutor", "bench_card"]

#: The user text of every request (~100 B); the artifact echoes it.
BENCH_TEXT = "benchmark payload: hello over A2A, the same trivial work on every transport!"


class BenchExecutor(AgentExecutor):
    """Task -> (optionally ``delay`` seconds of I/O-bound waiting) -> one artifact with
    the input text -> COMPLETED. No streaming status.

    ``journal``, when given, is called with ``start <task id>`` once the task exists
    and ``done <task id>`` once its work is done, just before it reports COMPLETED
    (bench/faults_load.py counts
    executions with it across ``kill -9``)."""

    def __init__(self, *, delay: float = 0.0,
                 journal: Callable[[str], None] | None = None) -> None:
        self.executions = 0
        self.delay = delay
        self.journal = journal

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.executions += 1
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        if self.journal is not None:
            self.journal(f"start {task.id}")
        if self.delay:
            await asyncio.sleep(self.delay)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.add_artifact(
            [Part(text=context.get_user_input())], name="echo", last_chunk=True
        )
        if self.journal is not None:
            # Before complete(), not after: a group commit wakes many turns at once, and
            # a kill -9 between the commit and their wake-up would lose the line of a
            # task the store completed.
            self.journal(f"done {task.id}")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id and context.context_id:
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def bench_card(url: str = "", binding: str = "JSONRPC") -> AgentCard:
    """The benchmark agent's card; ``url`` set adds one interface (the HTTP server's)."""
    card = AgentCard(
        name="Bench echo",
        description="Echoes the input text as one artifact.",
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="echo", name="Echo", description="Returns the input text.", tags=["bench"]
            )
        ],
    )
    if url:
        card.supported_interfaces.append(
            AgentInterface(url=url, protocol_binding=binding, protocol_version="1.0")
        )
    return card
