"""The SQLite group commit's DB-API statements (server/sqlitebatch.py) against the Core path.

The same hypothesis-drawn batches (releases, claims of free and taken tasks, first,
chained, compare-and-swap and stale writes) run through the general Core statements
(``turnbatch.apply_turns`` + ``batchwrite.apply_batch``, on aiosqlite) on one SQLite
file and through ``sqlitebatch.apply_all`` (plain tuples through the DB-API) on
another: every outcome, every claim's read, the lost versions and every stored byte
must be equal. (``tests/behaviour/server/test_group_commit.py`` compares the whole
store with a2a-sdk's own.)
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.models import Base, TaskEventModel, TaskModel, TaskVersionModel
from a2a.types.a2a_pb2 import Artifact, Message, Part, Role, Task, TaskState, TaskStatusUpdateEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from a2a_mqtt.server import sqlitebatch
from a2a_mqtt.server.batchwrite import Lost, Write, apply_batch, next_version
from a2a_mqtt.server.inflight import INFLIGHT_TABLE, InflightEntry
from a2a_mqtt.server.turnbatch import Claim, Release, apply_turns

pytestmark = pytest.mark.asyncio

TASKS = ["t0", "t1", "t2"]
OWNERS = ["o1", "o2"]
op_st = st.one_of(
    st.tuples(st.just("release"), st.sampled_from(TASKS), st.sampled_from(OWNERS)),
    st.tuples(st.just("claim"), st.sampled_from(TASKS), st.sampled_from(OWNERS)),
    st.tuples(st.just("write"), st.sampled_from(TASKS), st.sampled_from(OWNERS),
              st.sampled_from(["first", "next", "behind", "stale"])))
batches_st = st.lists(st.lists(op_st, min_size=1, max_size=10), min_size=1, max_size=4)


def _task(task_id: str, step: int, seq: int, *, rich: bool) -> Task:
    """Each write's task differs from the one before (``seq``: the write's number), so
    a chain's task row shows which of its writes it was made from."""
    task = Task(id=task_id, context_id=f"ctx-{task_id}")
    task.status.state = (TaskState.TASK_STATE_WORKING if seq % 2
                         else TaskState.TASK_STATE_SUBMITTED)
    if rich:  # a timestamp (the DATETIME column), history, artifacts, metadata
        task.status.timestamp.FromSeconds(1_700_000_000 + step)
        task.status.timestamp.nanos = 123_456_000
        task.history.append(Message(message_id=f"m{step}-{seq}", role=Role.ROLE_USER,
                                    parts=[Part(text=f"hé {step}")]))
        task.artifacts.append(Artifact(artifact_id=f"a{step}", parts=[Part(text="x")]))
        task.metadata.update({"step": step, "nested": {"k": [1, "two", None]}})
    return task


def _create(db: Path) -> None:
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine, tables=[
        TaskModel.__table__, TaskVersionModel.__table__, TaskEventModel.__table__])
    INFLIGHT_TABLE.metadata.create_all(engine, tables=[INFLIGHT_TABLE])
    engine.dispose()


def _dump(db: Path) -> Any:
    with sqlite3.connect(db) as conn:
        return {table: list(conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"))
                for table in ("tasks", "task_versions", "task_events", INFLIGHT_TABLE.name)}


def _shown(outcomes: Any, won: Any, reads: Any, lost: Lost) -> Any:
    return ([repr(o) if isinstance(o, TaskVersion) else type(o).__name__ for o in outcomes],
            list(won),
            {t: {o: (s.task.SerializeToString(deterministic=True), repr(s.version))
                 for o, s in by.items()} for t, by in reads.items()},
            list(lost.items()))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches_st, rich=st.booleans())
async def test_dbapi_batches_equal_the_core_statements(
        batches: list[list[tuple[str, ...]]], rich: bool, tmp_path_factory: Any) -> None:
    tmp = tmp_path_factory.mktemp("batch")
    core_db, dbapi_db = tmp / "core.db", tmp / "dbapi.db"
    _create(core_db)
    _create(dbapi_db)
    core = create_async_engine(f"sqlite+aiosqlite:///{core_db}")
    dbapi = create_engine(f"sqlite:///{dbapi_db}")
    versions: dict[tuple[str, str], TaskVersion] = {}
    core_lost: Lost = OrderedDict()
    dbapi_lost: Lost = OrderedDict()
    seq = 0
    try:
        for step, ops in enumerate(batches):
            writes, claims, releases = [], [], []
            for op in ops:
                kind, task_id, owner = op[:3]
                if kind == "release":
                    releases.append(Release(task_id, owner))
                elif kind == "claim":
                    claims.append(Claim(InflightEntry(
                        task_id=task_id, message_id=f"m-{step}", owner=owner, method="unary",
                        response_topic="r", correlation=b"\x00c", request_id='"1"',
                        run="run", created_at=1.5 + step)))
                else:
                    mode, key = op[3], (owner, task_id)
                    known = versions.get(key, TaskVersion.MISSING)
                    prev = {"first": TaskVersion.MISSING, "stale": TaskVersion(99)}.get(
                        mode, known)
                    seq += 1
                    task = _task(task_id, step, seq, rich=rich)
                    write = Write(task, TaskStatusUpdateEvent(
                        task_id=task_id, context_id=task.context_id, status=task.status),
                        prev, owner, ServerCallContext(), behind=mode == "behind")
                    if write.behind:  # as the store: the next write builds on it at once
                        versions[key] = TaskVersion(next_version(prev))
                    writes.append(write)
            async with core.begin() as conn:
                won, reads = await apply_turns(conn, claims, releases)
                outcomes = await apply_batch(conn, writes, core_lost) if writes else []
            with dbapi.begin() as sync:
                # As the group commit: the rows converted before the transaction
                # (every other step: converted inside it).
                ready = sqlitebatch.prepare(sync.dialect, writes) if step % 2 else None
                got = sqlitebatch.apply_all(sync, ready, writes=writes, claims=claims,
                                            releases=releases, lost=dbapi_lost)
            expected = _shown(outcomes, won, reads, core_lost)
            assert _shown(got[0], got[2], got[3], got[1]) == expected
            for write, outcome in zip(writes, outcomes, strict=True):
                key = (write.owner, write.task.id)
                if isinstance(outcome, TaskVersion):
                    versions[key] = outcome
            assert _dump(dbapi_db) == _dump(core_db)
    finally:
        await core.dispose()
        dbapi.dispose()


@pytest.mark.parametrize("rows", [1, 2, 7, 300])
async def test_a_widened_insert_writes_what_one_insert_per_row_writes(
        rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The claims' multi-row statement, at its edge sizes (one row, more rows than fit
    one statement when SQLite allows only 999 parameters), inserts each new row once
    and returns exactly the rows that were new."""
    monkeypatch.setattr(sqlitebatch, "_MAX_PARAMS", 999)  # SQLite before 3.32: 99 rows
    db = tmp_path / "w.db"
    _create(db)
    engine = create_engine(f"sqlite:///{db}")
    claims = [Claim(InflightEntry(task_id=f"t{i}", message_id="m", owner="o", method="unary",
                                  response_topic="r", correlation=None, request_id="1",
                                  run="r", created_at=float(i))) for i in range(rows)]
    with engine.begin() as conn:  # every other task is taken already
        conn.exec_driver_sql(
            f"INSERT INTO {INFLIGHT_TABLE.name} (task_id, message_id, owner, method, "
            "response_topic, request_id, context_id, run, created_at) "
            "VALUES (?, 'old', 'x', 'unary', 'r', '1', '', 'r', 0)",
            [(f"t{i}",) for i in range(0, rows, 2)])
    with engine.begin() as conn:
        won, _reads = sqlitebatch.apply_all(conn, writes=[], claims=claims, releases=[],
                                            lost=OrderedDict())[2:]
    assert won == [i % 2 == 1 for i in range(rows)]
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute(f"SELECT task_id, message_id FROM {INFLIGHT_TABLE.name}"))
    assert stored == {f"t{i}": "old" if i % 2 == 0 else "m" for i in range(rows)}
    engine.dispose()


@pytest.mark.parametrize("prepared", [True, False])
async def test_a_chain_stores_its_last_task_and_an_event_per_write(
        prepared: bool, tmp_path: Path) -> None:
    """A turn's writes queued behind one another (SUBMITTED, WORKING, COMPLETED in one
    batch) are one chain: one task row, the last write's task, converted before the
    transaction or inside it alike, and an event row per write at its own version."""
    db = tmp_path / "c.db"
    _create(db)
    engine = create_engine(f"sqlite:///{db}")
    writes: list[Write] = []
    prev = TaskVersion.MISSING
    for seq in range(3):
        task = _task("t0", 0, seq, rich=True)
        writes.append(Write(task, TaskStatusUpdateEvent(
            task_id="t0", context_id=task.context_id, status=task.status), prev, "o1",
            ServerCallContext(), behind=seq < 2))
        prev = TaskVersion(next_version(prev))
    ready = sqlitebatch.prepare(engine.dialect, writes) if prepared else None
    with engine.begin() as conn:
        outcomes = sqlitebatch.apply_all(conn, ready, writes=writes, claims=[], releases=[],
                                         lost=OrderedDict())[0]
    assert [repr(o) for o in outcomes] == [repr(TaskVersion(v)) for v in (1, 2, 3)]
    with sqlite3.connect(db) as conn:
        (history,) = conn.execute("SELECT history FROM tasks").fetchone()
        versions = [v for (v,) in conn.execute(
            "SELECT task_version FROM task_events ORDER BY task_version")]
    assert '"m0-2"' in history and '"m0-0"' not in history
    assert versions == [1, 2, 3]
    engine.dispose()
