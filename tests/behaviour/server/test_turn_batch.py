"""In-flight claims and releases in the group commit (server/turnbatch.py), on real
SQLite and PostgreSQL: they share transactions with each other and with task writes,
two claims of one task never both win, a claim's own transaction answers the read
that follows it, and a turn's chained writes commit as one unit with the SDK's rows."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Task, TaskState, TaskStatusUpdateEvent
from sqlalchemy import event, func, select

from a2a_mqtt.server.groupcommit import GroupCommitStore
from a2a_mqtt.server.inflight import INFLIGHT_TABLE, DatabaseInflightLog, InflightEntry
from a2a_mqtt.server.stores import create_tables, open_task_store
from a2a_mqtt.server.turnbatch import BatchedInflightLog

pytestmark = pytest.mark.asyncio


def _entry(task_id: str, owner: str = "agent-a") -> InflightEntry:
    return InflightEntry(task_id=task_id, message_id=f"m-{task_id}", owner=owner,
                         method="unary", response_topic="$a2a/v1/reply/x", correlation=b"c",
                         request_id='"1"', run="run-1")


def _task(task_id: str, state: int) -> Task:
    task = Task(id=task_id, context_id=f"ctx-{task_id[:8]}")
    task.status.state = state  # type: ignore[assignment]
    return task


async def _open(url: str, stack: AsyncExitStack, *, write_behind: bool = False
                ) -> tuple[GroupCommitStore, BatchedInflightLog, Any]:
    opened = await open_task_store(url, stack, write_behind=write_behind)
    store = opened.store
    assert isinstance(store, GroupCommitStore) and opened.engine is not None
    durable = DatabaseInflightLog(opened.engine)
    await create_tables(durable.initialize)

    async def no_batch_failed() -> None:  # a failed batch would hide behind its retry
        assert store.failed_batches == 0

    stack.push_async_callback(no_batch_failed)
    return store, BatchedInflightLog(durable, store), opened.engine


async def _rows(engine: Any) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(INFLIGHT_TABLE.c.task_id))).scalars())


async def test_claims_share_a_transaction_and_only_one_copy_wins(store_url: str) -> None:
    async with AsyncExitStack() as stack:
        store, log, engine = await _open(store_url, stack)
        ids = [str(uuid.uuid4()) for _ in range(30)]
        before = store.batches
        # Every task twice (a duplicate delivery, or another process's copy) in one go.
        won = await asyncio.gather(*(log.claim(_entry(t, owner)) for t in ids
                                     for owner in ("agent-a", "agent-b")))
        assert store.batches - before < 30  # 60 claims, a few commits
        for i in range(30):
            assert sorted(won[2 * i:2 * i + 2]) == [False, True]
        assert await _rows(engine) == set(ids)
        assert await log.claim(_entry(ids[0])) is False  # the row is there: refused
        # Releases are queued, not waited for, and go before later claims of the task.
        await log.release(ids[0], "agent-a")
        await log.release(ids[0], "agent-b")  # whichever copy won, its row goes
        assert await log.claim(_entry(ids[0])) is True
        await log.release(ids[1], "nobody")  # only the holder's release removes a row
        await store.aclose()
        assert ids[1] in await _rows(engine)


async def test_a_claims_transaction_answers_the_read_after_it(store_url: str) -> None:
    async with AsyncExitStack() as stack:
        store, log, engine = await _open(store_url, stack)
        statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        ctx = ServerCallContext()
        new, old = str(uuid.uuid4()), str(uuid.uuid4())
        version = await store.save(_task(old, TaskState.TASK_STATE_INPUT_REQUIRED),
                                   prev_version=TaskVersion.MISSING, context=ctx)
        assert await log.claim(_entry(new)) and await log.claim(_entry(old))
        statements.clear()
        assert await store.get(new, ctx) is None  # absent, as the claim read it
        stored = await store.get(old, ctx)
        assert stored is not None and stored.version == version
        assert stored.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert statements == []  # neither read reached the database
        assert await store.get(old, ctx) is not None  # a second read does
        assert statements
        # A write between the claim and the read makes the claim's read stale: not used.
        await log.release(old, "agent-a")
        assert await log.claim(_entry(old))
        done = await store.save(_task(old, TaskState.TASK_STATE_COMPLETED),
                                prev_version=version, context=ctx)
        stored = await store.get(old, ctx)
        assert stored is not None and stored.version == done
        assert stored.task.status.state == TaskState.TASK_STATE_COMPLETED


async def test_a_turns_chained_writes_commit_as_one_unit(store_url: str) -> None:
    """SUBMITTED and WORKING go behind, COMPLETED waits: one batch, one version move by
    three, one task row, three event rows numbered as three commits would have."""
    from a2a.server.models import TaskEventModel, TaskVersionModel

    async with AsyncExitStack() as stack:
        store, _log, engine = await _open(store_url, stack, write_behind=True)
        ctx = ServerCallContext()
        task_id = str(uuid.uuid4())
        assert await store.get(task_id, ctx) is None  # read absent: its writes may go behind
        version = TaskVersion.MISSING
        before = store.batches
        statements: list[str] = []
        event.listen(store.batch_engine, "before_cursor_execute",  # SQLite: the writer's
                     lambda *args: statements.append(args[2]))
        for state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING,
                      TaskState.TASK_STATE_COMPLETED):
            task = _task(task_id, state)
            version = await store.save(task, event=TaskStatusUpdateEvent(
                task_id=task_id, context_id=task.context_id, status=task.status),
                prev_version=version, context=ctx)
        assert version == TaskVersion(3)
        assert store.batches - before == 1
        if engine.dialect.name == "postgresql":  # the whole batch is one statement
            assert len(statements) == 1 and "INSERT INTO tasks" in statements[0]
        else:  # one statement on the version row and one task row upsert, not one per write
            assert sum("task_versions" in sql for sql in statements) == 1
            assert sum(sql.startswith("INSERT INTO tasks") for sql in statements) == 1
        async with engine.connect() as conn:
            stored = (await conn.execute(select(TaskVersionModel.version).where(
                TaskVersionModel.task_id == task_id))).scalar_one()
            events = (await conn.execute(select(TaskEventModel.task_version).where(
                TaskEventModel.task_id == task_id).order_by(TaskEventModel.task_version)
            )).scalars().all()
            count = (await conn.execute(select(func.count()).select_from(
                TaskVersionModel.__table__))).scalar_one()
        assert (stored, list(events), count) == (3, [1, 2, 3], 1)
        got = await store.get(task_id, ctx)
        assert got is not None and got.task.status.state == TaskState.TASK_STATE_COMPLETED
