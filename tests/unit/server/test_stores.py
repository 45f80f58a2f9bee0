"""KnownAbsentTaskStore: the reads it answers itself, and the ones it passes on."""

from __future__ import annotations

import asyncio
import uuid

from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, Task, TaskState

from a2a_mqtt.server.stores import KNOWN_ABSENT, KnownAbsentTaskStore


class _Counting(InMemoryTaskStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        self.reads += 1
        return await super().get(task_id, context)


def test_known_absent_reads_skip_the_store_until_the_first_write() -> None:
    async def run() -> None:
        inner = _Counting()
        store = KnownAbsentTaskStore(inner)
        task_id = str(uuid.uuid4())
        ctx = ServerCallContext(state={KNOWN_ABSENT: task_id})
        assert await store.get(task_id, ctx) is None
        assert inner.reads == 0  # answered without the store
        assert await store.get(task_id, ServerCallContext()) is None  # another request reads
        assert inner.reads == 1
        other_id = str(uuid.uuid4())
        assert await store.get(other_id, ctx) is None  # another task reads
        assert inner.reads == 2
        task = Task(id=task_id, context_id="c")
        task.status.state = TaskState.TASK_STATE_SUBMITTED
        await store.save(task, ctx)
        assert KNOWN_ABSENT not in ctx.state
        stored = await store.get(task_id, ctx)  # exists now: read from the store
        assert inner.reads == 3
        assert stored == task
        listed = await store.list(ListTasksRequest(), ctx)
        assert [t.id for t in listed.tasks] == [task_id]
        await store.delete(task_id, ctx)
        assert await store.get(task_id, ctx) is None

    asyncio.run(run())
