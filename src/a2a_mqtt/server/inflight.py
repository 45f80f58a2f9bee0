"""The in-flight log: which member is working on which task turn, durably.

A SendMessage is acknowledged to the broker only after its turn is claimed
here (docs/binding.md §6.7). The claim is the task's lock across processes:
the Task.id is the primary key, so two pool members that receive copies of one
first request cannot both start it. The entry keeps the request's Response
Topic and Correlation Data; if its owner dies mid-turn, whoever recovers the
entry (the owner when it restarts, or a surviving pool member that saw the
owner's will) fails the task with a reason and tells the requester.

Backed by the task store's database when there is one; in memory otherwise
(then it protects against in-process duplicates only).

Recovery must survive whatever an entry holds: the recoverer checks the stored
Response Topic with ``binding.topics.reply_topic_problem`` (fails the task and
logs instead of publishing where it must not), and :attr:`InflightEntry.reply_id`
falls back to null for a stored id that cannot be sent back. A database that
cannot be read at all raises :class:`~a2a_mqtt.errors.StoreError` with the fix.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, Text, delete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from a2a_mqtt.binding.codes import ResponderUnavailableError
from a2a_mqtt.server.dbops import (
    autocommit,
    insert_new,
    retry_transient,
    store_error,
    store_problem,
)

__all__ = ["INFLIGHT_TABLE", "DatabaseInflightLog", "InflightEntry", "InflightLog",
           "MemoryInflightLog", "claim_problem", "claim_refusals", "entry_values"]

log = logging.getLogger("a2a_mqtt.server")


@dataclass(frozen=True, slots=True)
class InflightEntry:
    """One task turn in progress and where its answer must go."""

    task_id: str
    message_id: str
    owner: str
    method: str
    response_topic: str
    correlation: bytes | None
    request_id: str
    """The JSON-RPC id, JSON-encoded (it may be a string, a number or null)."""
    context_id: str = ""
    run: str = ""
    """Which run of the owner took the turn: a restarted agent recovers only its
    earlier runs' turns, never the ones it is serving right now."""
    created_at: float = field(default_factory=time.time)

    @property
    def reply_id(self) -> str | int | None:
        """The JSON-RPC id to answer with: the stored one, or null when it does not decode
        to a string or integer that can be encoded (the requester correlates by
        Correlation Data, so it is still told)."""
        try:
            rid = json.loads(self.request_id)
            json.dumps(rid, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):
            return None
        if isinstance(rid, bool) or not isinstance(rid, str | int):
            return None
        return rid


class InflightLog:
    """Claim, release and recover turns; see the module docstring."""

    async def claim(self, entry: InflightEntry) -> bool:
        """Record the turn; False if the task already has a turn in flight.

        Raises ``ResponderUnavailableError`` (-32004, retryable) when the store
        cannot take writes (a full disk, read-only), so the requester is told.
        """
        raise NotImplementedError

    async def release(self, task_id: str, owner: str) -> None:
        """Forget a finished turn (only if ``owner`` holds it)."""
        raise NotImplementedError

    async def take(self, owner: str, *, except_run: str = "") -> list[InflightEntry]:
        """Atomically remove and return the turns ``owner`` holds (for recovery),
        leaving those of run ``except_run``."""
        raise NotImplementedError


class MemoryInflightLog(InflightLog):
    def __init__(self) -> None:
        self._entries: dict[str, InflightEntry] = {}

    async def claim(self, entry: InflightEntry) -> bool:
        if entry.task_id in self._entries:
            return False
        self._entries[entry.task_id] = entry
        return True

    async def release(self, task_id: str, owner: str) -> None:
        entry = self._entries.get(task_id)
        if entry is not None and entry.owner == owner:
            del self._entries[task_id]

    async def take(self, owner: str, *, except_run: str = "") -> list[InflightEntry]:
        taken = [e for e in self._entries.values()
                 if e.owner == owner and (not except_run or e.run != except_run)]
        for e in taken:
            del self._entries[e.task_id]
        return taken


_META = MetaData()
_TABLE = Table(
    "a2a_mqtt_inflight", _META,
    Column("task_id", String(128), primary_key=True),
    Column("message_id", String(256), nullable=False),
    Column("owner", String(256), nullable=False, index=True),
    Column("method", String(64), nullable=False),
    Column("response_topic", Text, nullable=False),
    Column("correlation", LargeBinary, nullable=True),
    Column("request_id", Text, nullable=False),
    Column("context_id", String(128), nullable=False, default=""),
    Column("run", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)
INFLIGHT_TABLE = _TABLE
"""The log's table (the batched log in server/turnbatch.py writes the same rows)."""


def entry_values(entry: InflightEntry) -> dict[str, Any]:
    """The table row of ``entry`` by column name."""
    return {
        "task_id": entry.task_id, "message_id": entry.message_id, "owner": entry.owner,
        "method": entry.method, "response_topic": entry.response_topic,
        "correlation": entry.correlation, "request_id": entry.request_id,
        "context_id": entry.context_id, "run": entry.run, "created_at": entry.created_at,
    }


def claim_problem(exc: DBAPIError, task_id: str) -> ResponderUnavailableError | None:
    """What a claim that failed with ``exc`` tells the requester: -32004 (retryable) when
    the store cannot take writes (a full disk, read-only; the detail is logged for the
    operator only), None for anything else (raised as it is)."""
    problem = store_problem(exc)
    if problem is None:
        return None
    # Nothing was taken: the requester may retry (here or elsewhere) once the
    # operator has fixed the store.
    log.error("cannot take task %s: %s", task_id, problem)
    return ResponderUnavailableError(
        "the agent's task store cannot take new work; retry later")


@contextmanager
def claim_refusals(task_id: str) -> Iterator[None]:
    """Around a claim: a store that cannot take writes becomes :func:`claim_problem`'s
    refusal; any other database error passes through as it is."""
    try:
        yield
    except DBAPIError as exc:
        refusal = claim_problem(exc, task_id)
        if refusal is None:
            raise
        raise refusal from exc


class DatabaseInflightLog(InflightLog):
    """The log as a table beside a2a-sdk's task tables (same engine)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._single = autocommit(engine)

    async def initialize(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_META.create_all)

    async def claim(self, entry: InflightEntry) -> bool:
        values = entry_values(entry)

        async def once() -> bool:
            async with self._single.connect() as conn:
                return await insert_new(conn, _TABLE, values)

        with claim_refusals(entry.task_id):
            return await retry_transient(once, what="in-flight claim")

    async def release(self, task_id: str, owner: str) -> None:
        async def once() -> None:
            async with self._single.connect() as conn:
                await conn.execute(delete(_TABLE).where(
                    (_TABLE.c.task_id == task_id) & (_TABLE.c.owner == owner)))

        await retry_transient(once, what="in-flight release")

    async def take(self, owner: str, *, except_run: str = "") -> list[InflightEntry]:
        # DELETE ... RETURNING: each row goes to exactly one recoverer.
        condition = _TABLE.c.owner == owner
        if except_run:
            condition = condition & (_TABLE.c.run != except_run)

        async def once() -> list[Any]:
            async with self._single.connect() as conn:
                return list((await conn.execute(
                    delete(_TABLE).where(condition).returning(*_TABLE.c))).all())

        try:
            rows = await retry_transient(once, what="in-flight recovery")
        except DBAPIError as exc:
            raise store_error(exc, self._engine.url.render_as_string(hide_password=True)
                              ) from exc
        return [InflightEntry(task_id=r.task_id, message_id=r.message_id, owner=r.owner,
                              method=r.method, response_topic=r.response_topic,
                              correlation=r.correlation, request_id=r.request_id,
                              context_id=r.context_id, run=r.run, created_at=r.created_at)
                for r in rows]
