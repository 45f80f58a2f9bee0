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
from typing import Final

from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import resolve_user_scope
from a2a.server.tasks import InMemoryTaskStore, TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState

__all__ = ["BoundedMemoryTaskStore"]

_TERMINAL: Final = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                              TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})
_SCAN: Final = 64
"""How many of the oldest tasks an eviction looks through for a terminal one."""

_Key = tuple[str, str]
"""(owner scope, task id): a2a-sdk's memory store keeps each owner's tasks apart."""


class BoundedMemoryTaskStore(TaskStore):
    """The newest tasks, within ``max_tasks`` and ``max_bytes``; finished ones go first.

    It keeps the tasks itself, as a2a-sdk's ``InMemoryTaskStore`` does (by owner
    scope from ``resolve_user_scope``, a copy saved and a copy returned, so nobody
    shares a stored object; the copy kept is the task's wire form), without that
    store's adapter layer, lock and DEBUG logging on every call (a save and a read
    per event: issue #16, Round 4b).
    ``list`` runs a2a-sdk's own listing (filters, order, pages) over the owner's
    tasks, so its answers are that store's.
    """

    def __init__(self, *, max_tasks: int = 1_000, max_bytes: int = 32 * 1024 * 1024) -> None:
        if max_tasks <= 0 or max_bytes <= 0:
            raise ValueError("max_tasks and max_bytes must be positive")
        self._tasks: dict[str, dict[str, bytes]] = {}  # owner -> id -> wire form
        self._max_tasks = max_tasks
        self._max_bytes = max_bytes
        # Oldest save first: key -> (serialized size, terminal).
        self._kept: OrderedDict[_Key, tuple[int, bool]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def bytes(self) -> int:
        """The serialized size of the tasks kept."""
        return self._bytes

    async def save(self, task: Task, context: ServerCallContext) -> None:
        owner = resolve_user_scope(context)
        # Kept as its wire form: the copy nobody shares, and its size, in one step
        # (a Task copy and its ByteSize cost twice that; three saves per request).
        data = task.SerializeToString()
        owned = self._tasks.get(owner)
        if owned is None:
            owned = self._tasks[owner] = {}
        owned[task.id] = data
        key = (owner, task.id)
        kept = self._kept
        old = kept.pop(key, None)
        size = len(data)
        kept[key] = (size, task.status.state in _TERMINAL)
        self._bytes += size - (old[0] if old is not None else 0)
        # The task just saved stays, even alone over max_bytes: its request is running.
        while len(kept) > 1 and (len(kept) > self._max_tasks
                                 or self._bytes > self._max_bytes):
            self._evict_one()

    def _forget(self, key: _Key) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._bytes -= kept[0]
        owned = self._tasks.get(key[0])
        if owned is not None:
            owned.pop(key[1], None)
            if not owned:
                del self._tasks[key[0]]

    def _evict_one(self) -> None:
        victim = next(iter(self._kept))
        for count, (key, (_size, terminal)) in enumerate(self._kept.items()):
            if terminal:
                victim = key
                break
            if count >= _SCAN:
                break
        self._forget(victim)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        owned = self._tasks.get(resolve_user_scope(context))
        data = owned.get(task_id) if owned is not None else None
        return None if data is None else Task.FromString(data)

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        # a2a-sdk's listing over this owner's tasks (a scratch store holding them
        # decoded, not copied again until the response is built).
        scratch = InMemoryTaskStore(use_copying=False)
        for data in self._tasks.get(resolve_user_scope(context), {}).values():
            await scratch.save(Task.FromString(data), context)
        response = await scratch.list(params, context)
        copy = ListTasksResponse()
        copy.CopyFrom(response)
        return copy

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._forget((resolve_user_scope(context), task_id))
