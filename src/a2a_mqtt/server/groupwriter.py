"""The group commit's writer: one task per store that commits every queued operation
in the next transaction.

Split from :mod:`a2a_mqtt.server.groupcommit` (the store: what ``save`` and ``get``
promise, the versions this process knows): here is when and how queued operations
reach the database. The writer takes every operation waiting at that moment (task
writes, in-flight claims and releases: all that queued during the last commit, up to
``max_batch``) and commits them together:

* on PostgreSQL, as one statement on an autocommit connection when the batch
  :func:`~a2a_mqtt.server.pgbatch.fits` (almost every batch): one round trip;
* on a SQLite file, as the same statements compiled once and run through the
  DB-API with plain tuples (:mod:`~a2a_mqtt.server.sqlitebatch`), the whole
  transaction in one call on a thread of its own, inside the file's writer lock
  (:mod:`~a2a_mqtt.server.sqlitewriter`);
* otherwise (a batch that does not fit one statement, a SQLite ``:memory:`` store), as
  the general statements in one transaction
  (:func:`~a2a_mqtt.server.turnbatch.apply_turns`,
  :func:`~a2a_mqtt.server.batchwrite.apply_batch`).

A batch that fails for a non-transient reason is retried one operation at a time, in
queue order (a task's writes build on each other): each decides its own fate. Every
waiter (``Write.done``, ``Claim.done``) is settled only after its batch committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar, Final

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    StoredTask,
    TaskVersion,
    VersionedDatabaseTaskStore,
)
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from a2a_mqtt.server import pgbatch, sqlitebatch
from a2a_mqtt.server.batchwrite import KNOWN, Lost, Write, apply_batch, builds_on_lost, lose
from a2a_mqtt.server.dbops import autocommit, retry_transient
from a2a_mqtt.server.sqlitewriter import SqliteWriter
from a2a_mqtt.server.turnbatch import (
    Claim,
    Reads,
    Release,
    apply_turns,
    claim_alone,
    release_alone,
)

__all__ = ["MAX_BATCH", "GroupWriter", "Op"]

log = logging.getLogger("a2a_mqtt.server")

Op = Write | Claim | Release
_Result = tuple[Sequence[TaskVersion | Exception], Lost, Sequence[bool], Reads]
MAX_BATCH: Final = 256
"""Operations per transaction at most (bounds one transaction's size and lock time)."""


class GroupWriter:
    """The writer task of one :class:`~a2a_mqtt.server.groupcommit.GroupCommitStore`.

    ``wrapped`` (the SDK's store over the same engine) writes a task alone when its
    batch failed. ``lost`` and the claims' reads (:meth:`take_fresh`) are what the
    store needs to answer later calls as the database would.
    """

    ONE_STATEMENT: ClassVar[frozenset[str]] = frozenset({"postgresql"})
    """Dialects whose batches run as one statement when they fit (a benchmark empties
    it to measure the general statements side by side)."""

    def __init__(self, engine: AsyncEngine, wrapped: VersionedDatabaseTaskStore, *,
                 max_batch: int = MAX_BATCH, sqlite: SqliteWriter | None = None) -> None:
        self._engine = engine
        # A SQLite file: each transaction whole on the writer's thread, in the file's
        # cross-process writer lock (sqlitewriter.py, writerlock.py).
        self._sqlite = sqlite
        self._single = autocommit(engine)
        self._wrapped = wrapped
        self._max_batch = max_batch
        # One statement per batch on PostgreSQL, in autocommit (module docstring).
        self._one_statement = engine.dialect.name in self.ONE_STATEMENT
        self._queue: asyncio.Queue[Op] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        """The writer's own connection, held between batches (no pool checkout, no
        isolation-level reset per batch); reopened after a failed batch. Autocommit
        where batches are one statement."""
        # Task id -> owner -> the task as the transaction of this process's claim of it
        # read it: answers the dispatcher's read right after the claim (once).
        self._fresh: OrderedDict[str, dict[str, StoredTask]] = OrderedDict()
        self.lost: Lost = OrderedDict()
        self.batches = 0
        """Batches committed (for tests and benchmarks)."""
        self.failed_batches = 0
        """Batches that failed and went one operation at a time (for tests)."""

    @property
    def batch_engine(self) -> Engine:
        """The (synchronous) engine batches run on: the writer thread's on a SQLite file,
        else the store's (for tests: its statement events)."""
        return self._sqlite.engine if self._sqlite is not None else self._engine.sync_engine

    def submit(self, op: Op) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="a2a-mqtt-group-commit")
        self._queue.put_nowait(op)

    def take_fresh(self, task_id: str) -> dict[str, StoredTask] | None:
        """What this process's claim of ``task_id`` read (once; None if nothing)."""
        return self._fresh.pop(task_id, None)

    async def aclose(self) -> None:
        """Stop after the operations already queued have committed."""
        task, self._task = self._task, None
        if task is not None:
            await self._queue.join()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._drop_connection()
        if self._sqlite is not None:
            await self._sqlite.aclose()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (DBAPIError, OSError):  # a broken connection: the pool discards it
                log.debug("closing the group commit connection failed", exc_info=True)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: Sequence[Op]) -> None:
        writes = [op for op in batch if isinstance(op, Write)]
        claims = [op for op in batch if isinstance(op, Claim)]
        releases = [op for op in batch if isinstance(op, Release)]
        try:
            outcomes, lost, won, reads = await retry_transient(
                lambda: self._apply(writes, claims, releases), what="group commit")
        except Exception as exc:
            # One operation may be what fails the batch: the database refusing it, or a
            # task with no stored form (a NaN in a Struct has no ProtoJSON). Each alone
            # decides its own fate, in queue order (a task's writes build on each
            # other); an error that escaped here would end the writer, and every caller
            # in the batch would wait forever.
            log.debug("group commit of %d operations failed (%s: %s); one by one",
                      len(batch), type(exc).__name__, exc)
            self.failed_batches += 1
            for op in batch:
                await self._alone(op)
            return
        self.batches += 1
        self.lost = lost
        written = {w.task.id for w in writes}
        for claim, ok in zip(claims, won, strict=True):
            task_id = claim.entry.task_id
            if ok and task_id in reads and task_id not in written:
                self._fresh[task_id] = reads[task_id]
                self._fresh.move_to_end(task_id)
                if len(self._fresh) > KNOWN:
                    self._fresh.popitem(last=False)
            _settle(claim, ok)
        for write, outcome in zip(writes, outcomes, strict=True):
            _settle(write, outcome)

    async def _apply(self, writes: Sequence[Write], claims: Sequence[Claim],
                     releases: Sequence[Release]) -> _Result:
        lost = OrderedDict(self.lost)  # kept only if the batch commits
        if self._sqlite is not None:
            # The rows are converted before the file's writer lock is taken.
            return await self._sqlite.prepared(
                partial(sqlitebatch.prepare, writes=writes),
                partial(sqlitebatch.apply_all, writes=writes, claims=claims,
                        releases=releases, lost=lost))
        one = self._one_statement and pgbatch.fits(writes, claims, releases)
        if self._conn is None:
            self._conn = await (self._single if self._one_statement else self._engine).connect()
        try:
            if one:
                outcomes, won, reads = await pgbatch.apply_all(
                    self._conn, writes, claims, releases, lost)
                return outcomes, lost, won, reads
            if self._one_statement:  # the held connection is autocommit: a pooled one
                async with self._engine.begin() as conn:
                    return await _transaction(conn, writes=writes, claims=claims,
                                              releases=releases, lost=lost)
            async with self._conn.begin():
                return await _transaction(self._conn, writes=writes, claims=claims,
                                          releases=releases, lost=lost)
        except BaseException:
            await self._drop_connection()  # a fresh one for the next attempt
            raise

    async def _alone(self, op: Op) -> None:
        if isinstance(op, Claim):
            try:
                _settle(op, await claim_alone(self._single, op))
            except Exception as exc:  # handed to the one caller it belongs to
                _settle(op, exc)
            return
        if isinstance(op, Release):
            await release_alone(self._single, op)
            return
        write = op
        if builds_on_lost(self.lost, write):
            _settle(write, ConcurrentTaskModificationError(write.task.id))
            return
        try:
            version = await self._wrapped.save(write.task, event=write.event,
                                               prev_version=write.prev_version,
                                               context=write.context)
        except Exception as exc:  # handed to the one caller it belongs to
            if isinstance(exc, ConcurrentTaskModificationError):
                lose(self.lost, write)
            _settle(write, exc)
        else:
            self.lost.pop((write.owner, write.task.id), None)
            _settle(write, version)


async def _transaction(conn: AsyncConnection, *, writes: Sequence[Write],
                       claims: Sequence[Claim], releases: Sequence[Release],
                       lost: Lost) -> _Result:
    """The general statements, in ``conn``'s transaction."""
    won, reads = await apply_turns(conn, claims, releases)
    outcomes = await apply_batch(conn, writes, lost) if writes else []
    return outcomes, lost, won, reads


def _settle(op: Write | Claim, outcome: Any) -> None:
    if op.done.done():
        return
    if isinstance(outcome, BaseException):
        op.done.set_exception(outcome)
    else:
        op.done.set_result(outcome)
