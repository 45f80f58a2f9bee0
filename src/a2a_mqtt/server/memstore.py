"""The ``memory://`` task store, bounded: a2a-sdk's InMemoryTaskStore keeping the newest tasks.

a2a-sdk's in-memory store keeps every task for the life of the process, so an
agent on the CLI default grows with every request it ever served (and each
ListTasks scans them all). This wrapper remembers at most ``max_tasks`` tasks:
saving one more forgets the least recently saved task that is terminal, or, if
none is, the least recently saved one. A forgotten task reads as absent
(GetTask answers -32001), as after a restart of this store. Database stores are
not bounded here: they are the durable choice.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore, TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState

__all__ = ["BoundedMemoryTaskStore"]

_TERMINAL: Final = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                              TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})
_SCAN: Final = 64
"""How many of the oldest tasks an eviction looks through for a terminal one."""


class BoundedMemoryTaskStore(TaskStore):
    """At most ``max_tasks`` tasks in memory; the oldest finished ones are forgotten first."""

    def __init__(self, *, max_tasks: int = 10_000) -> None:
        if max_tasks <= 0:
            raise ValueError("max_tasks must be positive")
        self._inner = InMemoryTaskStore()
        self._max = max_tasks
        # task id -> (the context it was saved under, reduced to its owner; terminal?)
        self._order: OrderedDict[str, tuple[ServerCallContext, bool]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    async def save(self, task: Task, context: ServerCallContext) -> None:
        await self._inner.save(task, context)
        self._order.pop(task.id, None)
        # Only the user decides the owner scope (a2a-sdk's resolve_user_scope).
        self._order[task.id] = (ServerCallContext(user=context.user),
                                task.status.state in _TERMINAL)
        while len(self._order) > self._max:
            await self._evict_one()

    async def _evict_one(self) -> None:
        victim = next(iter(self._order))
        for count, (task_id, (_ctx, terminal)) in enumerate(self._order.items()):
            if terminal:
                victim = task_id
                break
            if count >= _SCAN:
                break
        ctx, _terminal = self._order.pop(victim)
        await self._inner.delete(victim, ctx)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        return await self._inner.get(task_id, context)

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        return await self._inner.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._order.pop(task_id, None)
        await self._inner.delete(task_id, context)
