"""The group commit's transactions on a SQLite file: each one whole, on a thread of its own.

Through aiosqlite every statement of a transaction is a trip from the event loop to
aiosqlite's thread and back: the transaction (and the file's cross-process writer
lock, writerlock.py) stays open while the loop runs whatever else is ready between
two statements. Profiled with two worker processes on one file (docs/performance.md,
``--workers N``, session 7): a group commit of ~16 requests held the lock ~10 ms,
nearly all of it waiting for its own loop, and the two processes spent more time
waiting for each other's lock than working.

:class:`SqliteWriter` runs the whole transaction in one call on its own thread, with
a synchronous connection (``pysqlite``: the same ``sqlite3`` module aiosqlite wraps,
so the same transaction semantics): take the writer lock, run the statements, commit,
let go. The lock is held for SQLite's and SQLAlchemy's own work only, and the loop
makes one thread hop per batch instead of one per statement.

The transaction's body is a plain function of the synchronous connection
(:func:`~a2a_mqtt.server.sqlitebatch.apply_all`: the group commit's statements,
compiled once and run with plain tuples), called on this thread. What it needs that
depends on nothing the transaction reads (the rows converted to their columns' values:
:func:`~a2a_mqtt.server.sqlitebatch.prepare`) is made on the same thread just before
the lock is taken (:meth:`SqliteWriter.prepared`): those conversions were over half of
the time a batch held the lock (docs/performance.md, ``--workers N``, session 16).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from a2a_mqtt.server.writerlock import WriterLock

__all__ = ["SqliteWriter"]

T = TypeVar("T")
P = TypeVar("P")
_CACHED_STATEMENTS = 1024
Body = Callable[[Connection], T]


def _nothing(_dialect: Dialect) -> None:
    return None


class SqliteWriter:
    """Transactions on the SQLite file ``url`` names (a file, never ``:memory:``), one
    at a time on one thread, each inside ``lock``. ``aclose`` when done."""

    def __init__(
        self, url: URL, *, lock: WriterLock, on_connect: Callable[[Any, Any], None]
    ) -> None:
        # One connection, used by the one thread below only (StaticPool: never another).
        # Prepared statements kept per connection: a multi-row statement is one per row
        # count (sqlitebatch.py), up to a few hundred in use.
        self._engine = create_engine(url.set(drivername="sqlite+pysqlite"), poolclass=StaticPool,
                                     connect_args={"cached_statements": _CACHED_STATEMENTS})
        event.listen(self._engine, "connect", on_connect)
        self._lock = lock
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="a2a-mqtt-sqlite-writer"
        )
        self._conn: Connection | None = None
        self._closed = False

    @property
    def engine(self) -> Engine:
        """The synchronous engine the transactions run on (for tests: its events)."""
        return self._engine

    @property
    def lock(self) -> WriterLock:
        return self._lock

    async def transaction(self, body: Body[T]) -> T:
        """``body``'s statements in one transaction, committed before this returns. A
        cancelled caller does not stop it: the thread finishes (commits or rolls back)
        and lets the lock go either way."""
        return await self.prepared(_nothing, lambda conn, _none: body(conn))

    async def prepared(self, prepare: Callable[[Dialect], P],
                       body: Callable[[Connection, P], T]) -> T:
        """As :meth:`transaction`, with ``prepare(dialect)`` run first on the same thread
        and *before* the writer lock is taken, its result handed to ``body``: work the
        lock need not cover (converting the rows) leaves it free for other processes.
        ``prepare`` failing fails the call, with nothing begun."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, prepare, body)

    def _transaction(self, prepare: Callable[[Dialect], P],
                     body: Callable[[Connection, P], T]) -> T:
        ready = prepare(self._engine.dialect)
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        try:
            with self._lock.held(), conn.begin():
                return body(conn, ready)
        except BaseException:
            # The transaction rolled back; the next attempt gets a fresh connection (as the
            # async writer does), in case this one is what failed.
            self._conn = None
            with suppress(DBAPIError, OSError):  # a broken connection: discarded anyway
                conn.invalidate()
                conn.close()
            raise

    async def aclose(self) -> None:
        """Close the connection on its thread, then end the thread (once)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._engine.dispose()
