"""Durable run state: the event log in a SQL database (SQLite here; PostgreSQL next).

Only the log is stored; a run's state is ``fold(apply, events)`` from
:func:`start_run` (docs/workflows.md §4.2). Events are JSON with a ``kind``;
``(run_id, seq)`` is the primary key, so two writers can never both append the
same position: the one that loses gets an IntegrityError. The lease and
fencing-epoch columns of the supervisor design are not here yet.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from a2a_mqtt.workflows import state as events_module
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.scheduler import apply
from a2a_mqtt.workflows.state import Event, RunStarted, RunState, StepOutput, start_run

__all__ = ["RunStore", "decode_event", "encode_event"]

_metadata = MetaData()
runs = Table(
    "workflow_run", _metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workflow", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("started_at", Float, nullable=False),
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


def encode_event(event: Event) -> tuple[str, str]:
    body = dataclasses.asdict(event)
    return type(event).__name__, json.dumps(body, sort_keys=True, separators=(",", ":"))


def decode_event(kind: str, body: str) -> Event:
    cls = _KINDS[kind]
    fields: dict[str, Any] = json.loads(body)
    if "parts" in fields:
        fields["parts"] = tuple((k, v) for k, v in fields["parts"])
    if "output" in fields:
        fields["output"] = StepOutput(**fields["output"])
    event: Event = cls(**fields)
    return event


class RunStore:
    """The append-only event log of workflow runs, in one SQL database."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(url)

    async def __aenter__(self) -> RunStore:
        async with self.engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()

    async def create(self, state: RunState) -> None:
        """Record a new run and its first event (RunStarted) in one transaction."""
        kind, body = encode_event(state.events[0])
        async with self.engine.begin() as conn:
            await conn.execute(runs.insert().values(
                run_id=state.run_id, workflow=state.workflow.name,
                version=state.workflow.version, started_at=state.started_at))
            await conn.execute(events.insert().values(run_id=state.run_id, seq=0, kind=kind,
                                                      body=body))

    async def append(self, run_id: str, seq: int, event: Event) -> None:
        kind, body = encode_event(event)
        async with self.engine.begin() as conn:
            await conn.execute(events.insert().values(run_id=run_id, seq=seq, kind=kind,
                                                      body=body))

    async def load(self, run_id: str, workflow: Workflow) -> RunState:
        """Rebuild a run from its log (raises KeyError for an unknown run)."""
        async with self.engine.connect() as conn:
            run = (await conn.execute(select(runs).where(runs.c.run_id == run_id))).first()
            if run is None:
                raise KeyError(run_id)
            rows = (await conn.execute(select(events.c.kind, events.c.body)
                                       .where(events.c.run_id == run_id)
                                       .order_by(events.c.seq))).all()
        logged = [decode_event(kind, body) for kind, body in rows]
        first = logged[0]
        assert isinstance(first, RunStarted)
        state = start_run(run_id, workflow, first.inputs, at=run.started_at)
        for event in logged[1:]:
            state = apply(state, event)
        return state
