"""The bounded ``memory://`` store: newest tasks within both limits, finished ones go first."""

from __future__ import annotations

import pytest
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Artifact, Part, Task, TaskState, TaskStatus

from a2a_mqtt.server.memstore import BoundedMemoryTaskStore

pytestmark = pytest.mark.asyncio
CTX = ServerCallContext()


def task(n: int, state: int = TaskState.TASK_STATE_COMPLETED, text: str = "") -> Task:
    out = Task(id=f"t{n}", context_id="c", status=TaskStatus(state=state))  # type: ignore[arg-type]
    if text:
        out.artifacts.append(Artifact(artifact_id="a", parts=[Part(text=text)]))
    return out


async def test_keeps_the_newest_tasks_up_to_the_count() -> None:
    store = BoundedMemoryTaskStore(max_tasks=3)
    for n in range(10):
        await store.save(task(n), CTX)
    assert len(store) == 3
    kept = [await store.get(f"t{n}", CTX) is not None for n in range(10)]
    assert kept == [False] * 7 + [True] * 3


async def test_finished_tasks_go_before_running_ones() -> None:
    store = BoundedMemoryTaskStore(max_tasks=2)
    await store.save(task(0, TaskState.TASK_STATE_WORKING), CTX)
    await store.save(task(1), CTX)
    await store.save(task(2), CTX)
    assert await store.get("t0", CTX) is not None  # still running: kept
    assert await store.get("t1", CTX) is None
    assert await store.get("t2", CTX) is not None


async def test_bytes_are_bounded_and_re_saves_are_not_counted_twice() -> None:
    store = BoundedMemoryTaskStore(max_tasks=1_000, max_bytes=10_000)
    for n in range(50):
        for _ in range(3):  # a task is saved at every state change
            await store.save(task(n, text="x" * 1_000), CTX)
    assert store.bytes <= 10_000
    kept = [await store.get(f"t{n}", CTX) for n in range(50)]
    assert store.bytes == sum(t.ByteSize() for t in kept if t is not None)
    assert 5 <= len(store) <= 10


async def test_one_task_larger_than_the_limit_is_kept_while_alone() -> None:
    store = BoundedMemoryTaskStore(max_bytes=100)
    await store.save(task(0, text="x" * 1_000), CTX)
    assert await store.get("t0", CTX) is not None
    await store.delete("t0", CTX)
    assert (len(store), store.bytes) == (0, 0)
