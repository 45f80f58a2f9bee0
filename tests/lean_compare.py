"""What the lean-handler tests share: the same requests, answers compared alike.

``tests/unit/server/test_fastpath*.py`` (in process) and
``tests/behaviour/server/test_lean_handler.py`` (over Mosquitto) send the same
requests to ``LeanRequestHandler`` and to a2a-sdk's ``DefaultRequestHandler`` and
compare what comes back with :func:`comparable`: serialised, without the status
timestamps a2a-sdk stamps from the clock.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)

__all__ = ["S", "ScriptedExecutor", "comparable", "run_without_gc", "scripted_card",
           "status_update", "user_request"]

S = TaskState
_T = TypeVar("_T")


def run_without_gc(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)`` with the cyclic collector off. Added when a2a-sdk's handler
    answered a blocking SendMessage with the task as first stored under the collector;
    the cause was a2a-sdk swallowing the cancellation of the tests' one-second
    ``wait_for`` that a collector pause had let expire (docs/performance.md, "The
    collector and a2a-sdk's handler"; tests/unit/server/test_delegated_cancel.py). The
    collector can still slow a loaded run past that second, so it stays."""
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(coro)
    finally:
        gc.enable()


def scripted_card(name: str = "t", *, streaming: bool = True,
              skills: list[AgentSkill] | None = None) -> AgentCard:
    """A text-in, text-out card for the scripted executors."""
    return AgentCard(name=name, description=name, version="1",
                     capabilities=AgentCapabilities(streaming=streaming),
                     default_input_modes=["text/plain"], default_output_modes=["text/plain"],
                     skills=skills or [])


def user_request(text: str, *, message_id: str, context_id: str = "", task_id: str = "",
                 history: int | None = None, blocking: bool = True) -> SendMessageRequest:
    """A SendMessage with one text part (``history``: the history length asked for)."""
    message = Message(message_id=message_id, role=Role.ROLE_USER, task_id=task_id,
                      context_id=context_id, parts=[Part(text=text)])
    config = SendMessageConfiguration(return_immediately=not blocking)
    if history is not None:
        config.history_length = history
    return SendMessageRequest(message=message, configuration=config)


def status_update(task_id: str, context_id: str, state: Any,
                  message: Message | None = None) -> TaskStatusUpdateEvent:
    status = TaskStatus(state=state)
    if message is not None:
        status.message.CopyFrom(message)
    return TaskStatusUpdateEvent(task_id=task_id, context_id=context_id, status=status)


class ScriptedExecutor(AgentExecutor):
    """What the scripted executors share: the request's text is JSON saying what to do
    (:meth:`begin`), and a cancel ends the task CANCELED."""

    @staticmethod
    async def begin(context: RequestContext, event_queue: EventQueue) -> tuple[str, str, Any]:
        """The task's id, its context's id and the request's JSON; a new task is
        enqueued first, SUBMITTED with the request's message in its history."""
        assert context.message is not None
        tid, cid = str(context.task_id), str(context.context_id)
        script = json.loads(context.message.parts[0].text)
        if context.current_task is None:
            task = Task(id=tid, context_id=cid, status=TaskStatus(state=S.TASK_STATE_SUBMITTED))
            task.history.append(context.message)
            await event_queue.enqueue_event(task)
        return tid, cid, script

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await event_queue.enqueue_event(status_update(
            str(context.task_id), str(context.context_id), S.TASK_STATE_CANCELED))


def comparable(value: Any) -> Any:
    """An answer as both handlers must give it: (type, bytes) without status timestamps,
    ``("error", type, text)`` for an error; lists item by item."""
    if isinstance(value, BaseException):
        return ("error", type(value).__name__, str(value))
    if isinstance(value, list):
        return [comparable(v) for v in value]
    copy = type(value)()
    copy.CopyFrom(value)
    for status in _statuses(copy):
        status.ClearField("timestamp")
    return (type(value).__name__, copy.SerializeToString(deterministic=True))


def _statuses(value: Any) -> list[TaskStatus]:
    if isinstance(value, Task | TaskStatusUpdateEvent):
        return [value.status]
    if isinstance(value, StreamResponse):
        kind = value.WhichOneof("payload")
        if kind == "task":
            return [value.task.status]
        if kind == "status_update":
            return [value.status_update.status]
    return []
