"""The stages' durable dedup store: which (pipeline, stage, event id) are finished.

A row is written only after the stage's outcome (result, error or skip) was
published and acknowledged by the broker, and before the upstream event is
acknowledged; so a redelivered event whose row exists is acknowledged and
dropped, and one without a row is processed again (its outcome has deterministic
ids, so a second publish is itself dropped downstream). ``(pipeline, stage,
event_id)`` is the primary key: two writers of one row are harmless. SQLite on one
host, PostgreSQL when stage processes run on several.
"""

from __future__ import annotations

import time
from typing import Self

from sqlalchemy import Column, Float, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from a2a_mqtt.server.stores import database_url

__all__ = ["DedupStore"]

_metadata = MetaData()
finished = Table(
    "workflow_stage_event", _metadata,
    Column("pipeline", String(64), primary_key=True),
    Column("stage", String(64), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("at", Float, nullable=False),
)


class DedupStore:
    """Finished events per stage; an async context manager owning its engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(database_url(url))

    async def __aenter__(self) -> Self:
        async with self.engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()

    async def outcome(self, pipeline: str, stage: str, event_id: str) -> str | None:
        """``result``, ``error`` or ``skipped`` if the event was finished, else None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(finished.c.outcome).where(
                finished.c.pipeline == pipeline, finished.c.stage == stage,
                finished.c.event_id == event_id))).first()
        return None if row is None else str(row[0])

    async def finish(self, pipeline: str, stage: str, event_id: str, outcome: str) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(finished.insert().values(
                    pipeline=pipeline, stage=stage, event_id=event_id, outcome=outcome,
                    at=time.time()))
        except IntegrityError:
            pass  # already finished by an earlier delivery: the same outcome was published
