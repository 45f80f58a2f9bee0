"""Group commit (server/groupcommit.py) against a2a-sdk's own database store.

The same operation sequences run on two SQLite files, one through the SDK's
``VersionedDatabaseTaskStore`` alone and one through :class:`GroupCommitStore`:
every save must end the same way (the same new version or the same refusal), and
both files must hold the same tasks, versions and event log. Operations within a
round run concurrently, so the batched store commits several of them together.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from a2a.server.cluster import ConcurrentTaskModificationError, TaskVersion, VersionedTaskStore
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    Artifact,
    ListTasksRequest,
    Part,
    Task,
    TaskState,
    TaskStatusUpdateEvent,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from a2a_mqtt.server.groupcommit import GroupCommitStore
from a2a_mqtt.server.stores import open_task_store

pytestmark = pytest.mark.asyncio

TASKS = [f"task-{i}" for i in range(4)]
KINDS = ["first", "next", "next", "stale", "cancel", "get", "complete"]

# One round: distinct tasks, each with one operation; they run concurrently.
rounds_st = st.lists(
    st.dictionaries(st.sampled_from(TASKS), st.sampled_from(KINDS), min_size=1),
    min_size=1, max_size=6)


def _task(task_id: str, state: int, note: str) -> Task:
    task = Task(id=task_id, context_id=f"ctx-{task_id}")
    task.status.state = state  # type: ignore[assignment]
    task.artifacts.append(Artifact(artifact_id=note, parts=[Part(text=note)]))
    task.metadata.update({"note": note, "n": len(note)})
    return task


async def _op(store: VersionedTaskStore, versions: dict[str, TaskVersion], task_id: str,
              kind: str, step: int) -> Any:
    ctx = ServerCallContext()
    last = versions.get(task_id, TaskVersion.MISSING)
    if kind == "get":
        stored = await store.get(task_id, ctx)
        return None if stored is None else (stored.task.SerializeToString(deterministic=True),
                                            repr(stored.version))
    state = {"cancel": TaskState.TASK_STATE_CANCELED,
             "complete": TaskState.TASK_STATE_COMPLETED}.get(kind, TaskState.TASK_STATE_WORKING)
    prev = {"first": TaskVersion.MISSING, "stale": TaskVersion(99)}.get(kind, last)
    task = _task(task_id, state, f"{kind}-{step}")
    event = TaskStatusUpdateEvent(task_id=task_id, context_id=task.context_id,
                                  status=task.status)
    try:
        version = await store.save(task, event=event, prev=None, prev_version=prev,
                                   context=ctx)
    except ConcurrentTaskModificationError:
        return "conflict"
    versions[task_id] = version
    return repr(version)


async def _run(store: VersionedTaskStore, rounds: list[dict[str, str]]) -> list[Any]:
    versions: dict[str, TaskVersion] = {}
    outcomes: list[Any] = []
    for step, ops in enumerate(rounds):
        outcomes.append(await asyncio.gather(
            *(_op(store, versions, t, k, step) for t, k in sorted(ops.items()))))
    listed = await store.list(ListTasksRequest(page_size=100), ServerCallContext())
    outcomes.append(sorted(t.SerializeToString(deterministic=True) for t in listed.tasks))
    return outcomes


# The JSON columns of a ``tasks`` row (status, artifacts, history, metadata), by position.
_JSON_COLUMNS = range(5, 9)


def _canonical(rows: Any) -> list[tuple[Any, ...]]:
    """Sorted ``tasks`` rows (ids are unique, so the JSON never decides the order) with
    their JSON written with sorted keys. The order of a ``Struct``'s keys (the metadata)
    is its map's iteration order, which protobuf's upb varies from process to process
    and between two tasks holding the same entries; both stores write the same object,
    not the same bytes for it."""
    return [tuple(json.dumps(json.loads(v), sort_keys=True)
                  if i in _JSON_COLUMNS and v is not None else v for i, v in enumerate(row))
            for row in rows]


def _tables(db: Path) -> Any:
    with sqlite3.connect(db) as conn:
        return (sorted(conn.execute("SELECT task_id, version FROM task_versions")),
                _canonical(sorted(conn.execute("SELECT id, context_id, kind, owner, "
                                               "last_updated, status, artifacts, history, "
                                               "metadata, protocol_version FROM tasks"))),
                sorted(conn.execute("SELECT task_id, task_version, event_data FROM task_events")))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=rounds_st)
async def test_batched_store_equals_the_sdk_store(rounds: list[dict[str, str]],
                                                   tmp_path_factory: pytest.TempPathFactory,
                                                   ) -> None:
    tmp = tmp_path_factory.mktemp("gc")
    results = []
    for name, batched in (("plain", False), ("batched", True)):
        async with AsyncExitStack() as stack:
            opened = await open_task_store(f"sqlite:///{tmp}/{name}.db", stack,
                                           group_commit=batched, write_behind=batched)
            store = opened.store
            assert isinstance(store, VersionedTaskStore)
            assert isinstance(store, GroupCommitStore) is batched
            results.append(await _run(store, rounds))
            assert not batched or store.failed_batches == 0  # type: ignore[attr-defined]
    assert results[0] == results[1]
    assert _tables(tmp / "plain.db") == _tables(tmp / "batched.db")


_PG_TABLES = ("SELECT task_id, owner, version FROM task_versions",
              "SELECT id, context_id, kind, owner, last_updated, status::text, artifacts::text, "
              "history::text, metadata::text, protocol_version FROM tasks",
              "SELECT task_id, owner, task_version, event_data FROM task_events")


async def _pg_tables(engine: Any) -> Any:
    """The three tables (sorted), then emptied for the next run; the event log is in
    version order per task by ``seq`` (the order a stream reads it in)."""
    async with engine.begin() as conn:
        tables = [sorted(tuple(r) for r in await conn.execute(text(q))) for q in _PG_TABLES]
        tables[1] = _canonical(tables[1])
        by_seq = [tuple(r) for r in await conn.execute(text(
            "SELECT task_id, task_version FROM task_events ORDER BY seq"))]
        await conn.execute(text("TRUNCATE task_versions, tasks, task_events"))
    for task_id in {t for t, _ in by_seq}:
        versions = [v for t, v in by_seq if t == task_id]
        assert versions == sorted(versions)
    return tables


@pytest.mark.postgres
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=rounds_st)
async def test_batched_store_equals_the_sdk_store_on_postgresql(
        rounds: list[dict[str, str]], postgres_database: str) -> None:
    """The same on PostgreSQL, where a batch is one statement (server/pgbatch.py)."""
    results = []
    for batched in (False, True):
        async with AsyncExitStack() as stack:
            opened = await open_task_store(postgres_database, stack,
                                           group_commit=batched, write_behind=batched)
            store = opened.store
            assert isinstance(store, GroupCommitStore) is batched
            assert isinstance(store, VersionedTaskStore)
            outcomes = await _run(store, rounds)
            if isinstance(store, GroupCommitStore):
                await store.aclose()
                assert store.failed_batches == 0
            results.append((outcomes, await _pg_tables(opened.engine)))
    assert results[0] == results[1]


async def test_concurrent_saves_share_transactions(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        opened = await open_task_store(f"sqlite:///{tmp_path}/t.db", stack)
        store = opened.store
        assert isinstance(store, GroupCommitStore)
        ctx = ServerCallContext()
        versions = await asyncio.gather(*(
            store.save(_task(f"t{i}", TaskState.TASK_STATE_WORKING, f"n{i}"),
                       prev_version=TaskVersion.MISSING, context=ctx) for i in range(50)))
        assert all(v == TaskVersion(1) for v in versions)
        assert store.batches < 50  # 50 writes, fewer commits
        for i in range(50):  # each row holds its own task, not a neighbour's
            stored = await store.get(f"t{i}", ctx)
            assert stored is not None and stored.version == TaskVersion(1)
            assert stored.task.artifacts[0].artifact_id == f"n{i}"
            assert stored.task.metadata["note"] == f"n{i}"
        # A lost version check fails that write alone, in a batch with good ones.
        outcomes = await asyncio.gather(
            store.save(_task("t1", TaskState.TASK_STATE_WORKING, "x"),
                       prev_version=TaskVersion(5), context=ctx),
            store.save(_task("t2", TaskState.TASK_STATE_COMPLETED, "y"),
                       prev_version=TaskVersion(1), context=ctx),
            return_exceptions=True)
        assert isinstance(outcomes[0], ConcurrentTaskModificationError)
        assert outcomes[1] == TaskVersion(2)
        again = await store.get("t1", ctx)
        assert again is not None and again.version == TaskVersion(1)
        assert again.task.artifacts[0].artifact_id == "n1"


async def test_a_write_committed_behind_that_loses_fails_the_turns_end(tmp_path: Path) -> None:
    """Mid-turn writes return before they commit; if another writer moved the task in
    between, the write that ends the turn (which waits for its commit) fails its
    version check, as the SDK store would have failed the earlier one."""
    url = f"sqlite:///{tmp_path}/t.db"
    ctx = ServerCallContext()
    async with AsyncExitStack() as stack:
        ours = (await open_task_store(url, stack, write_behind=True)).store
        other = (await open_task_store(url, stack, group_commit=False)).store
        assert isinstance(ours, GroupCommitStore)
        assert isinstance(other, VersionedTaskStore)
        assert await ours.get("t", ctx) is None  # read absent: a first write may go behind
        v1 = await ours.save(_task("t", TaskState.TASK_STATE_WORKING, "a"),
                             prev_version=TaskVersion.MISSING, context=ctx)
        assert v1 == TaskVersion(1)
        seen = await ours.get("t", ctx)  # our own newest write, committed or not
        assert seen is not None and seen.task.artifacts[0].artifact_id == "a"
        await ours.list(ListTasksRequest(page_size=10), ctx)  # waits for writes behind
        await other.save(_task("t", TaskState.TASK_STATE_WORKING, "x"), event=None, prev=None,
                         prev_version=v1, context=ctx)  # another member moves it to 2
        v2 = await ours.save(_task("t", TaskState.TASK_STATE_WORKING, "b"),
                             prev_version=v1, context=ctx)  # behind; loses in the database
        with pytest.raises(ConcurrentTaskModificationError):
            await ours.save(_task("t", TaskState.TASK_STATE_COMPLETED, "c"),
                            prev_version=v2, context=ctx)
        stored = await other.get("t", ctx)
        assert stored is not None and stored.version == TaskVersion(2)
        assert stored.task.artifacts[0].artifact_id == "x"


async def test_a_failed_sqlite_batch_goes_one_by_one_and_the_writer_goes_on(
        tmp_path: Path) -> None:
    """A SQLite batch that fails for a real reason (here: claims into an in-flight table
    that does not exist) is committed one operation at a time, in queue order: each
    claim gets its own error, each write commits, and the writer goes on batching (the
    writes after it build on the versions the one-by-one path made)."""
    from a2a_mqtt.server.inflight import InflightEntry

    async with AsyncExitStack() as stack:
        opened = await open_task_store(f"sqlite:///{tmp_path}/t.db", stack,
                                       write_behind=True)
        store = opened.store
        assert isinstance(store, GroupCommitStore)
        ctx = ServerCallContext()
        assert await store.get("c", ctx) is None  # read absent: its writes may go behind

        async def turn() -> TaskVersion:  # behind, behind, then the turn's end: in order
            version = TaskVersion.MISSING
            for state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING,
                          TaskState.TASK_STATE_COMPLETED):
                version = await store.save(_task("c", state, f"c{state}"),
                                           prev_version=version, context=ctx)
            return version

        def entry(task_id: str) -> InflightEntry:
            return InflightEntry(task_id=task_id, message_id=f"m-{task_id}", owner="o",
                                 method="unary", response_topic="r", correlation=b"c",
                                 request_id='"1"', run="run")

        # Submitted in one loop iteration: one batch, which fails on its claims.
        outcomes = await asyncio.gather(
            store.claim(entry("t0")),
            *(store.save(_task(f"t{i}", TaskState.TASK_STATE_WORKING, f"a{i}"),
                         prev_version=TaskVersion.MISSING, context=ctx) for i in range(5)),
            turn(), store.claim(entry("t1")), return_exceptions=True)
        assert store.failed_batches == 1
        assert all(isinstance(o, Exception) and "inflight" in str(o)
                   for o in (outcomes[0], outcomes[-1]))
        assert outcomes[1:-2] == [TaskVersion(1)] * 5
        assert outcomes[-2] == TaskVersion(3)
        done = await store.get("c", ctx)
        assert done is not None and done.version == TaskVersion(3)
        assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
        # The thread went on: the next writes build on what the one-by-one path made,
        # in one batch again.
        before = store.batches
        again = await asyncio.gather(*(
            store.save(_task(f"t{i}", TaskState.TASK_STATE_COMPLETED, f"b{i}"),
                       prev_version=TaskVersion(1), context=ctx) for i in range(5)))
        assert again == [TaskVersion(2)] * 5
        assert store.batches - before == 1 and store.failed_batches == 1
        for i in range(5):
            stored = await store.get(f"t{i}", ctx)
            assert stored is not None and stored.version == TaskVersion(2)
            assert stored.task.artifacts[0].artifact_id == f"b{i}"


async def _a_bad_write_fails_alone(url: str) -> None:
    # A regression must fail, not hang: the store's close would wait for the stuck batch.
    async with asyncio.timeout(90), AsyncExitStack() as stack:
        store = (await open_task_store(url, stack)).store
        assert isinstance(store, GroupCommitStore)
        ctx = ServerCallContext()
        bad = _task("bad", TaskState.TASK_STATE_WORKING, "x")
        bad.metadata.update({"reading": float("nan")})
        outcomes = await asyncio.wait_for(asyncio.gather(
            store.save(_task("g0", TaskState.TASK_STATE_WORKING, "a"),
                       prev_version=TaskVersion.MISSING, context=ctx),
            store.save(bad, prev_version=TaskVersion.MISSING, context=ctx),
            store.save(_task("g1", TaskState.TASK_STATE_WORKING, "b"),
                       prev_version=TaskVersion.MISSING, context=ctx),
            return_exceptions=True), timeout=30)
        assert outcomes[0] == outcomes[2] == TaskVersion(1)
        assert isinstance(outcomes[1], ValueError) and "NaN" in str(outcomes[1])
        assert await store.get("bad", ctx) is None
        again = await asyncio.wait_for(store.save(
            _task("g0", TaskState.TASK_STATE_COMPLETED, "c"), prev_version=TaskVersion(1),
            context=ctx), timeout=30)
        assert again == TaskVersion(2)
        assert store.failed_batches == 1


async def test_a_write_that_cannot_be_stored_fails_alone(tmp_path: Path) -> None:
    """A task that has no ProtoJSON form (a NaN in its metadata: legal protobuf, refused
    by ``MessageToDict``, which the database stores use) fails its own write with that
    error; the writes batched with it commit, and the writer goes on. Before, the error
    ended the writer and every caller in its batch waited forever."""
    await _a_bad_write_fails_alone(f"sqlite:///{tmp_path}/t.db")


@pytest.mark.postgres
async def test_a_write_that_cannot_be_stored_fails_alone_on_postgresql(
        postgres_database: str) -> None:
    await _a_bad_write_fails_alone(postgres_database)
