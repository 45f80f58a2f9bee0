"""The bounded ``memory://`` store: newest tasks within both limits, finished ones go first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from a2a.auth.user import UnauthenticatedUser
from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import Artifact, ListTasksRequest, Part, Task, TaskState, TaskStatus
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.server.memstore import BoundedMemoryTaskStore

CTX = ServerCallContext()


def task(n: int, state: int = TaskState.TASK_STATE_COMPLETED, text: str = "") -> Task:
    out = Task(id=f"t{n}", context_id="c", status=TaskStatus(state=state))  # type: ignore[arg-type]
    if text:
        out.artifacts.append(Artifact(artifact_id="a", parts=[Part(text=text)]))
    return out


@pytest.mark.asyncio
async def test_keeps_the_newest_tasks_up_to_the_count() -> None:
    store = BoundedMemoryTaskStore(max_tasks=3)
    for n in range(10):
        await store.save(task(n), CTX)
    assert len(store) == 3
    kept = [await store.get(f"t{n}", CTX) is not None for n in range(10)]
    assert kept == [False] * 7 + [True] * 3


@pytest.mark.asyncio
async def test_finished_tasks_go_before_running_ones() -> None:
    store = BoundedMemoryTaskStore(max_tasks=2)
    await store.save(task(0, TaskState.TASK_STATE_WORKING), CTX)
    await store.save(task(1), CTX)
    await store.save(task(2), CTX)
    assert await store.get("t0", CTX) is not None  # still running: kept
    assert await store.get("t1", CTX) is None
    assert await store.get("t2", CTX) is not None


@pytest.mark.asyncio
async def test_bytes_are_bounded_and_re_saves_are_not_counted_twice() -> None:
    store = BoundedMemoryTaskStore(max_tasks=1_000, max_bytes=10_000)
    for n in range(50):
        for _ in range(3):  # a task is saved at every state change
            await store.save(task(n, text="x" * 1_000), CTX)
    assert store.bytes <= 10_000
    kept = [await store.get(f"t{n}", CTX) for n in range(50)]
    assert store.bytes == sum(t.ByteSize() for t in kept if t is not None)
    assert 5 <= len(store) <= 10


@pytest.mark.asyncio
async def test_one_task_larger_than_the_limit_is_kept_while_alone() -> None:
    store = BoundedMemoryTaskStore(max_bytes=100)
    await store.save(task(0, text="x" * 1_000), CTX)
    assert await store.get("t0", CTX) is not None
    await store.delete("t0", CTX)
    assert (len(store), store.bytes) == (0, 0)


@pytest.mark.asyncio
async def test_saves_and_reads_are_copies() -> None:
    store = BoundedMemoryTaskStore()
    original = task(1, TaskState.TASK_STATE_WORKING)
    await store.save(original, CTX)
    original.status.state = TaskState.TASK_STATE_FAILED  # the caller's object, not ours
    got = await store.get("t1", CTX)
    assert got is not None and got.status.state == TaskState.TASK_STATE_WORKING
    got.status.state = TaskState.TASK_STATE_CANCELED
    again = await store.get("t1", CTX)
    assert again is not None and again.status.state == TaskState.TASK_STATE_WORKING


USERS = ["", "alice", "bob"]
op = st.one_of(
    st.tuples(
        st.just("save"),
        st.integers(0, 5),
        st.sampled_from(USERS),
        st.sampled_from([TaskState.TASK_STATE_WORKING, TaskState.TASK_STATE_COMPLETED]),
        st.sampled_from(["c1", "c2"]),
        st.integers(0, 3),
    ),
    st.tuples(st.just("delete"), st.integers(0, 5), st.sampled_from(USERS)),
)
listing = st.builds(
    lambda ctx, state, size: ListTasksRequest(context_id=ctx, status=state, page_size=size),
    st.sampled_from(["", "c1", "c2"]),
    st.sampled_from(
        [
            TaskState.TASK_STATE_UNSPECIFIED,
            TaskState.TASK_STATE_WORKING,
            TaskState.TASK_STATE_COMPLETED,
        ]
    ),
    st.integers(0, 4),
)


def _ctx(user: str) -> ServerCallContext:
    return ServerCallContext(user=_User(user)) if user else ServerCallContext()


class _User(UnauthenticatedUser):
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._name


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(op, max_size=20), query=listing, user=st.sampled_from(USERS))
def test_within_its_limits_it_answers_as_a2a_sdks_memory_store(
    ops: list[tuple[Any, ...]], query: ListTasksRequest, user: str
) -> None:
    async def play(store: Any) -> list[Any]:
        for o in ops:
            if o[0] == "save":
                _, n, who, state, context_id, second = o
                t = Task(id=f"t{n}", context_id=context_id, status=TaskStatus(state=state))
                t.status.timestamp.FromSeconds(1_000 + second)
                await store.save(t, _ctx(who))
            else:
                await store.delete(f"t{o[1]}", _ctx(o[2]))
        out: list[Any] = [await store.get(f"t{n}", _ctx(u)) for n in range(6) for u in USERS]
        pages, token = [], ""
        for _ in range(10):  # every page, following the tokens
            page = await store.list(
                ListTasksRequest(
                    context_id=query.context_id,
                    status=query.status,
                    page_size=query.page_size,
                    page_token=token,
                ),
                _ctx(user),
            )
            pages.append(page)
            token = page.next_page_token
            if not token:
                break
        return out + pages

    ours = asyncio.run(play(BoundedMemoryTaskStore()))
    sdk = asyncio.run(play(InMemoryTaskStore()))
    assert ours == sdk
