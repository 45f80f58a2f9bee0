"""Durable run state: runs with their leases, and the append-only event log (SQL).

Only the log is the truth; a run's state is ``fold(apply, events)`` from
:func:`start_run` (docs/workflows.md §4.2). Events are JSON with a ``kind``;
``(run_id, seq)`` is the primary key, so two writers can never both append the
same position: the one that loses gets an IntegrityError and re-reads.

The ``workflow_run`` row carries what the supervisors need besides the log:
- ownership: ``owner``, ``epoch`` (the fencing token) and ``lease_until``
  (wall-clock seconds; supervisors' clocks must agree to well under the TTL);
- the caller's stream: ``reply_topic``/``reply_corr``/``reply_rid`` of the
  request currently streaming this run, and ``reply_seq``, the last event
  already streamed to it (so a new owner continues the same stream);
- ``status``/``error``: a projection of the log, for listing.
SQLite (one host) and PostgreSQL (many hosts) are both supported.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from a2a_mqtt.server.stores import create_tables, database_url
from a2a_mqtt.workflows import state as events_module
from a2a_mqtt.workflows.fold import apply
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.state import Event, RunStarted, RunState, StepOutput, start_run

__all__ = ["RunStore", "decode_event", "encode_event", "events", "open_engine", "runs"]

_metadata = MetaData()
runs = Table(
    "workflow_run", _metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workflow", String(64), nullable=False, index=True),
    Column("version", String(64), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("context_id", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False, default="running", index=True),
    Column("error", Text, nullable=True),
    Column("owner", String(128), nullable=False, default=""),
    Column("epoch", Integer, nullable=False, default=0),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("reply_topic", Text, nullable=True),
    Column("reply_corr", LargeBinary, nullable=True),
    Column("reply_rid", Text, nullable=True),
    Column("reply_seq", Integer, nullable=False, default=-1),
    Column("updated_at", Float, nullable=False, default=0.0),
)
events = Table(
    "workflow_event", _metadata,
    Column("run_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
)

_KINDS: dict[str, type[Any]] = {name: getattr(events_module, name) for name in (
    "RunStarted", "AttemptDispatched", "AttemptInputRequired", "HoldStarted", "InputProvided",
    "InputForwarded", "AttemptCompleted", "AttemptFailed", "AttemptCancelled", "StepSkipped",
    "StepFailed", "CancelRequested", "RunCompleted", "RunFailed", "RunCancelled")}


def encode_event(item: Event) -> tuple[str, str]:
    body = dataclasses.asdict(item)
    return type(item).__name__, json.dumps(body, sort_keys=True, separators=(",", ":"))


def decode_event(kind: str, body: str) -> Event:
    cls = _KINDS[kind]
    fields: dict[str, Any] = json.loads(body)
    if "parts" in fields:
        fields["parts"] = tuple((k, v) for k, v in fields["parts"])
    if "output" in fields:
        fields["output"] = StepOutput(**fields["output"])
    decoded: Event = cls(**fields)
    return decoded


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Several supervisors share one SQLite file: WAL, and wait for the write lock.
    cursor = dbapi_connection.cursor()
    try:
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                       "PRAGMA busy_timeout=10000"):
            cursor.execute(pragma)
    finally:
        cursor.close()


def open_engine(url: str) -> AsyncEngine:
    """An engine for ``sqlite:///FILE`` or ``postgresql://...`` (driver added here).

    PostgreSQL keeps 10 connections in its pool (15 at most, as before): with tens of
    runs in flight a supervisor often has more than the default 5 statements
    outstanding, and each overflow connection was opened and closed again (TLS set-up
    and statement preparation included) for a single use."""
    db_url = database_url(url)
    engine = (create_async_engine(db_url, pool_size=10, max_overflow=5)
              if db_url.startswith("postgresql") else create_async_engine(db_url))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def fold(run_id: str, workflow: Workflow, started_at: float, logged: list[Event]) -> RunState:
    """The run's state from its log (the first event is RunStarted)."""
    first = logged[0]
    assert isinstance(first, RunStarted)
    state = start_run(run_id, workflow, first.inputs, at=started_at)
    for item in logged[1:]:
        state = apply(state, item)
    return state


class RunStore:
    """The event log of workflow runs (the in-process runner's view: no leases)."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = open_engine(url)

    async def __aenter__(self) -> RunStore:
        await self.initialize()
        return self

    async def initialize(self) -> None:
        """Create the tables (several processes may start at once: the race is retried)."""
        async def create() -> None:
            async with self.engine.begin() as conn:
                await conn.run_sync(_metadata.create_all)

        await create_tables(create)

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()

    async def create(self, state: RunState, **row: Any) -> None:
        """Record a new run and its first event (RunStarted) in one transaction."""
        kind, body = encode_event(state.events[0])
        async with self.engine.begin() as conn:
            await conn.execute(runs.insert().values(
                run_id=state.run_id, workflow=state.workflow.name,
                version=state.workflow.version, started_at=state.started_at, **row))
            await conn.execute(events.insert().values(run_id=state.run_id, seq=0, kind=kind,
                                                      body=body))

    async def append(self, run_id: str, seq: int, item: Event) -> None:
        kind, body = encode_event(item)
        async with self.engine.begin() as conn:
            await conn.execute(events.insert().values(run_id=run_id, seq=seq, kind=kind,
                                                      body=body))

    async def events_after(self, run_id: str, seq: int) -> list[Event]:
        """The events after position ``seq``, in order."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(events.c.kind, events.c.body)
                                       .where((events.c.run_id == run_id)
                                              & (events.c.seq > seq))
                                       .order_by(events.c.seq))).all()
        return [decode_event(kind, body) for kind, body in rows]

    async def load(self, run_id: str, workflow: Workflow) -> RunState:
        """Rebuild a run from its log (raises KeyError for an unknown run)."""
        async with self.engine.connect() as conn:
            run = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).first()
        if run is None:
            raise KeyError(run_id)
        return fold(run_id, workflow, run.started_at, await self.events_after(run_id, -1))

    async def run_row(self, run_id: str) -> Any:
        """The run's row (ownership, stream target, status), or None."""
        async with self.engine.connect() as conn:
            return (await conn.execute(select(runs).where(runs.c.run_id == run_id))).first()

    async def marks(self, run_ids: list[str]) -> list[Any]:
        """For each run: its last log position (``last``, -1 for none) and where its
        caller's stream goes (``reply_*``). One statement for up to 500 runs at a time:
        a supervisor's poll reads every run it drives at once."""
        last = (select(func.coalesce(func.max(events.c.seq), -1))
                .where(events.c.run_id == runs.c.run_id).scalar_subquery())
        rows: list[Any] = []
        async with self.engine.connect() as conn:
            for start in range(0, len(run_ids), 500):
                rows.extend((await conn.execute(select(
                    runs.c.run_id, runs.c.reply_topic, runs.c.reply_corr, runs.c.reply_rid,
                    last.label("last")).where(
                    runs.c.run_id.in_(run_ids[start:start + 500])))).all())
        return rows
