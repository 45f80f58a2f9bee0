"""The ``memory://`` task store, bounded: a2a-sdk's InMemoryTaskStore keeping the newest tasks.

a2a-sdk's in-memory store keeps every task for the life of the process, so an
agent on the CLI default grows with every request it ever served (and each
ListTasks scans them all). This wrapper keeps at most ``max_tasks`` tasks and
``max_bytes`` of them (their serialized size): saving past either limit
forgets the least recently saved task that is terminal, or, if none of the
oldest is, the least recently saved one. A forgotten task reads as absent
(GetTask answers -32001), as after a restart of this store. Database stores
are not bounded here: they are the durable choice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore, TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState

__all__ = ["BoundedMemoryTaskStore"]

_TERMINAL: Final = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                              TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})
_SCAN: Final = 64
"""How many of the oldest tasks an eviction looks through for a terminal one."""


@dataclass(frozen=True, slots=True)
class _Kept:
    owner: User  # only the user decides the owner scope (resolve_user_scope)
    size: int
    terminal: bool


class BoundedMemoryTaskStore(TaskStore):
    """The newest tasks, within ``max_tasks`` and ``max_bytes``; finished ones go first."""

    def __init__(self, *, max_tasks: int = 1_000, max_bytes: int = 32 * 1024 * 1024) -> None:
        if max_tasks <= 0 or max_bytes <= 0:
            raise ValueError("max_tasks and max_bytes must be positive")
        self._inner = InMemoryTaskStore()
        self._max_tasks = max_tasks
        self._max_bytes = max_bytes
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def bytes(self) -> int:
        """The serialized size of the tasks kept."""
        return self._bytes

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await self._inner.save(task, context)
        self._forget(task.id)
        # The owner's context is built only when the task is evicted (a pydantic model
        # per save was 1 % of the agent's CPU).
        kept = _Kept(context.user, task.ByteSize(),
                     task.status.state in _TERMINAL)
        self._kept[task.id] = kept
        self._bytes += kept.size
        # The task just saved stays, even alone over max_bytes: its request is running.
        while len(self._kept) > 1 and (len(self._kept) > self._max_tasks
                                       or self._bytes > self._max_bytes):
            await self._evict_one()

    def _forget(self, task_id: str) -> _Kept | None:
        kept = self._kept.pop(task_id, None)
        if kept is not None:
            self._bytes -= kept.size
        return kept

    async def _evict_one(self) -> None:
        victim = next(iter(self._kept))
        for count, (task_id, kept) in enumerate(self._kept.items()):
            if kept.terminal:
                victim = task_id
                break
            if count >= _SCAN:
                break
        gone = self._forget(victim)
        assert gone is not None
        await self._inner.delete(victim, ServerCallContext(user=gone.owner))

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        return await self._inner.get(task_id, context)

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        return await self._inner.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._forget(task_id)
        await self._inner.delete(task_id, context)
