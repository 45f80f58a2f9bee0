"""The group-commit store alone, without MQTT: what one batch costs on each database.

    python bench/store_turns.py                        # 3 rounds of each variant
    python bench/store_turns.py --variants postgres --turns 4000 --inflight 100

``--inflight`` concurrent turns on one event loop, each as the agent's dispatcher and
lean handler make them on a lone agent: the in-flight claim, the task read, three
saves (SUBMITTED and WORKING committed behind, COMPLETED waited for), the release.
Reported per variant (medians over rounds): turns/s, this process's CPU per turn,
turns per batch, statements per batch (SQLAlchemy's ``before_cursor_execute``: one
round trip each, and one more where asyncpg prepares a statement text it has not seen
on that connection), and, on PostgreSQL, explicit transactions per batch (asyncpg's
public query logger sees each BEGIN; it and its COMMIT are two more round trips) and
the server backends' CPU per turn (``pg_stat_activity`` pids, from /proc).
Variants: ``sqlite``, ``postgres`` (one statement per batch, server/pgbatch.py) and
``postgres-multi`` (the general statements in a transaction per batch: before pgbatch).
Task ids are the requester's (``binding.stream.new_task_id``: time-ordered UUIDv7); a
``-v4`` suffix (``sqlite-v4``, ``postgres-v4``) makes them random UUIDv4 instead, as a
requester that draws random ids sends them (docs/performance.md, Round 6).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.cpu import proc_cpu_seconds
from harness.stores import POSTGRES_DEFAULT, store_url


async def _turns(url: str, turns: int, inflight: int, *, multi: bool,
                 random_ids: bool) -> dict[str, float]:
    from a2a.server.cluster import TaskVersion
    from a2a.server.context import ServerCallContext
    from a2a.types.a2a_pb2 import Task, TaskState, TaskStatusUpdateEvent
    from sqlalchemy import event, text

    from a2a_mqtt.binding.stream import new_task_id
    from a2a_mqtt.server.groupcommit import GroupCommitStore
    from a2a_mqtt.server.groupwriter import GroupWriter
    from a2a_mqtt.server.inflight import DatabaseInflightLog, InflightEntry
    from a2a_mqtt.server.stores import create_tables, open_task_store
    from a2a_mqtt.server.turnbatch import BatchedInflightLog

    statements, begins = [0], [0]

    def count(record: Any) -> None:
        if record.query.lstrip().upper().startswith("BEGIN"):
            begins[0] += 1

    GroupWriter.ONE_STATEMENT = frozenset() if multi else frozenset({"postgresql"})
    async with AsyncExitStack() as stack:
        opened = await open_task_store(url, stack, write_behind=True)
        store, engine = opened.store, opened.engine
        assert isinstance(store, GroupCommitStore)
        assert engine is not None
        durable = DatabaseInflightLog(engine)
        await create_tables(durable.initialize)
        log = BatchedInflightLog(durable, store)
        postgres = engine.dialect.name == "postgresql"
        # Statements sent (each a round trip); on PostgreSQL also explicit transactions
        # (asyncpg's public query logger sees its BEGIN and COMMIT: two round trips more).
        # SQLite: the batches run on the writer thread's own engine (server/sqlitewriter.py).
        for counted in {engine.sync_engine, store.batch_engine}:
            event.listen(counted, "before_cursor_execute",
                         lambda *_args: statements.__setitem__(0, statements[0] + 1))
        if postgres:
            event.listen(engine.sync_engine, "checkout",
                         lambda conn, _rec, _proxy: conn.driver_connection.add_query_logger(count))
        ctx = ServerCallContext()

        async def turn() -> None:
            task_id = str(uuid.uuid4()) if random_ids else new_task_id()
            entry = InflightEntry(task_id=task_id, message_id=f"m-{task_id}", owner="bench",
                                  method="unary", response_topic="r", correlation=b"c",
                                  request_id='"1"', run="run")
            assert await log.claim(entry)
            assert await store.get(task_id, ctx) is None
            version = TaskVersion.MISSING
            for state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING,
                          TaskState.TASK_STATE_COMPLETED):
                task = Task(id=task_id, context_id=task_id)
                task.status.state = state
                version = await store.save(task, event=TaskStatusUpdateEvent(
                    task_id=task_id, context_id=task.context_id, status=task.status),
                    prev_version=version, context=ctx)
            await log.release(task_id, "bench")

        async def worker(n: int) -> None:
            for _ in range(n):
                await turn()

        await asyncio.gather(*(worker(5) for _ in range(inflight)))  # warm-up
        backends: list[int] = []
        if postgres:
            async with engine.connect() as conn:
                backends = list((await conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"))).scalars())
        server0 = sum(proc_cpu_seconds(p) or 0.0 for p in backends)
        batches0, statements0, begins0 = store.batches, statements[0], begins[0]
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(turns // inflight) for _ in range(inflight)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        done = turns // inflight * inflight
        batches = store.batches - batches0
        server = sum(proc_cpu_seconds(p) or 0.0 for p in backends) - server0
        return {"turns/s": done / elapsed, "cpu ms/turn": 1000 * cpu / done,
                "turns/batch": done / max(batches, 1),
                "statements/batch": (statements[0] - statements0) / max(batches, 1),
                "BEGIN/batch": (begins[0] - begins0) / max(batches, 1),
                "server ms/turn": 1000 * server / done if postgres else 0.0}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="sqlite,postgres,postgres-multi")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--turns", type=int, default=3000)
    p.add_argument("--inflight", type=int, default=100)
    p.add_argument("--postgres", default=POSTGRES_DEFAULT)
    args = p.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for run in range(args.runs):
        variants = args.variants.split(",")
        for kind in variants[run % len(variants):] + variants[:run % len(variants)]:
            with tempfile.TemporaryDirectory() as work:
                async with store_url(kind.split("-")[0], Path(work), args.postgres) as url:
                    row = await _turns(url, args.turns, args.inflight,
                                       multi=kind.endswith("-multi"),
                                       random_ids=kind.endswith("-v4"))
            results.setdefault(kind, []).append(row)
            print(f"round {run} {kind:14}", "  ".join(f"{k} {v:8.2f}" for k, v in row.items()),
                  flush=True)
    print()
    for kind, rows in results.items():
        print(f"median {kind:14}", "  ".join(
            f"{k} {statistics.median(r[k] for r in rows):8.2f}" for k in rows[0]))


if __name__ == "__main__":
    asyncio.run(main())
