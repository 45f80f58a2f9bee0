"""Requester-generated Task.ids on top of a2a-sdk's DefaultRequestHandler.

The profile has the requester choose ``Task.id`` on the first SendMessage so a
retried publish cannot create a second task; a2a-sdk instead rejects an unknown
``message.task_id`` with TaskNotFoundError. The translation (docs/binding.md
§6.2) happens here and nowhere else:

* a Task.id the store does not know is taken out of the message and handed to
  :class:`RequesterTaskIdBuilder` through the call context, so the handler
  creates the task under the requester's id;
* a request whose ``(Task.id, messageId)`` is already being handled, or is
  already in the task's history, is a retry: :class:`DedupGate` reports it as
  a duplicate so the caller answers from the store instead of starting a turn.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Final

from a2a.server.agent_execution.context import RequestContext
from a2a.server.agent_execution.simple_request_context_builder import (
    SimpleRequestContextBuilder,
)
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import SendMessageRequest, Task

__all__ = ["REQUESTED_TASK_ID", "DedupGate", "RequesterTaskIdBuilder", "seen_in_history"]

REQUESTED_TASK_ID: Final = "a2a_mqtt.requested_task_id"


class RequesterTaskIdBuilder(SimpleRequestContextBuilder):
    """Uses the requester's Task.id, stashed in the call context, for new tasks."""

    async def build(
        self,
        context: ServerCallContext,
        params: SendMessageRequest | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
        task: Task | None = None,
    ) -> RequestContext:
        if task_id is None:
            requested = context.state.get(REQUESTED_TASK_ID)
            if isinstance(requested, str) and requested:
                task_id = requested
        return await super().build(context, params, task_id, context_id, task)


def seen_in_history(task: Task, message_id: str) -> bool:
    """True if the task's history already holds a message with this id."""
    return any(m.message_id == message_id for m in task.history)


class DedupGate:
    """Serialises work per Task.id and remembers recent ``(task, message)`` pairs.

    ``async with gate.lock(task_id)`` guards the check-then-create sequence so
    two copies of one first request cannot both create the task. ``begin`` /
    ``finish`` bracket the handling of a message; a duplicate arriving in
    between waits on :meth:`wait_settled` and is then answered from the store.
    """

    def __init__(self, *, remember: int = 10_000) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._active: dict[tuple[str, str], asyncio.Event] = {}
        self._done: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remember = remember

    def lock(self, task_id: str) -> _TaskLock:
        return _TaskLock(self, task_id)

    def state(self, task_id: str, message_id: str) -> str:
        """``new``, ``active`` (being handled now) or ``done`` (handled recently)."""
        key = (task_id, message_id)
        if key in self._active:
            return "active"
        if key in self._done:
            return "done"
        return "new"

    def begin(self, task_id: str, message_id: str) -> None:
        self._active[(task_id, message_id)] = asyncio.Event()

    def settled(self, task_id: str, message_id: str) -> None:
        """The task now exists in the store (or creation failed): duplicates may proceed."""
        event = self._active.get((task_id, message_id))
        if event is not None:
            event.set()

    def finish(self, task_id: str, message_id: str) -> None:
        key = (task_id, message_id)
        event = self._active.pop(key, None)
        if event is not None:
            event.set()
        self._done[key] = None
        while len(self._done) > self._remember:
            self._done.popitem(last=False)

    async def wait_settled(self, task_id: str, message_id: str, timeout: float) -> None:
        event = self._active.get((task_id, message_id))
        if event is not None:
            async with asyncio.timeout(timeout):
                await event.wait()


class _TaskLock:
    def __init__(self, gate: DedupGate, task_id: str) -> None:
        self._gate = gate
        self._task_id = task_id

    async def __aenter__(self) -> None:
        gate = self._gate
        lock = gate._locks.setdefault(self._task_id, asyncio.Lock())
        gate._users[self._task_id] = gate._users.get(self._task_id, 0) + 1
        await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        gate = self._gate
        gate._locks[self._task_id].release()
        gate._users[self._task_id] -= 1
        if gate._users[self._task_id] == 0:
            # Invariant: a lock is dropped only when no coroutine holds or awaits it.
            del gate._users[self._task_id]
            del gate._locks[self._task_id]
