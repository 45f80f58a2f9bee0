"""The SQLite group commit's writer thread (server/sqlitewriter.py)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, Dialect, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from a2a_mqtt.server.sqlitewriter import SqliteWriter
from a2a_mqtt.server.writerlock import WriterLock

async_test = pytest.mark.asyncio


def _pragmas(dbapi_connection: object, _record: object) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _writer(db: Path) -> SqliteWriter:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    return SqliteWriter(
        make_url(f"sqlite+aiosqlite:///{db}"), lock=WriterLock(f"{db}-writer"), on_connect=_pragmas
    )


def _rows(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT k, v FROM t ORDER BY k"))


@async_test
async def test_a_transaction_commits_all_its_statements_and_returns_its_value(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    writer = _writer(db)

    def body(conn: Connection) -> tuple[str, int]:
        conn.execute(text("INSERT INTO t VALUES ('a', 1)"))
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", [("b", 2), ("c", 3)])
        row = conn.execute(text("SELECT count(*) FROM t")).one()
        return conn.dialect.name, int(row[0])

    assert await writer.transaction(body) == ("sqlite", 3)
    assert _rows(db) == [("a", 1), ("b", 2), ("c", 3)]
    await writer.aclose()


@async_test
async def test_a_failed_transaction_writes_nothing_and_the_next_one_works(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    writer = _writer(db)

    def duplicate(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES ('a', 1)"))
        conn.execute(text("INSERT INTO t VALUES ('a', 2)"))

    with pytest.raises(Exception, match="UNIQUE"):
        await writer.transaction(duplicate)
    assert _rows(db) == []

    def good(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES ('z', 9)"))

    await writer.transaction(good)
    assert _rows(db) == [("z", 9)]
    # The lock was let go after the failure too: another holder gets it at once.
    fd = os.open(f"{db}-writer", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)
    await writer.aclose()


@async_test
async def test_the_body_runs_on_the_writer_thread_not_the_loop(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "a.db")
    loop_thread = threading.get_ident()
    assert await writer.transaction(lambda _conn: threading.get_ident()) != loop_thread
    await writer.aclose()


@async_test
async def test_the_loop_runs_while_the_transaction_waits_for_the_lock(tmp_path: Path) -> None:
    """Another process's lock holds the transaction back on the writer's thread, not on
    the loop; a cancelled caller does not end it: it commits once the lock is free."""
    db = tmp_path / "a.db"
    writer = _writer(db)
    other = os.open(f"{db}-writer", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    entered = threading.Event()

    def body(conn: Connection) -> None:
        entered.set()
        conn.execute(text("INSERT INTO t VALUES ('a', 1)"))

    pending = asyncio.create_task(writer.transaction(body))
    ticks = 0
    while ticks < 20:  # the loop keeps turning meanwhile
        await asyncio.sleep(0)
        ticks += 1
    assert not pending.done() and not entered.is_set()
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    await writer.aclose()  # after the thread's queued transaction
    assert entered.is_set()
    assert _rows(db) == [("a", 1)]


@async_test
async def test_prepare_runs_before_the_lock_is_taken_and_hands_its_result_over(
    tmp_path: Path,
) -> None:
    """While another process holds the file's writer lock, ``prepare`` (the rows'
    conversion) still runs, on the writer's thread; the body waits for the lock and gets
    what ``prepare`` returned."""
    db = tmp_path / "a.db"
    writer = _writer(db)
    other = os.open(f"{db}-writer", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    prepared, entered = threading.Event(), threading.Event()
    threads: list[int] = []

    def prepare(dialect: Dialect) -> tuple[str, int]:
        threads.append(threading.get_ident())
        prepared.set()
        return dialect.name, 7

    def body(conn: Connection, ready: tuple[str, int]) -> tuple[str, int]:
        threads.append(threading.get_ident())
        entered.set()
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", [ready])
        return ready

    pending = asyncio.create_task(writer.prepared(prepare, body))
    assert await asyncio.to_thread(prepared.wait, 10)
    assert not entered.is_set() and not pending.done()  # the lock is still the other's
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    assert await pending == ("sqlite", 7)
    assert _rows(db) == [("sqlite", 7)]
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()
    await writer.aclose()


@async_test
async def test_a_failing_prepare_fails_the_call_and_begins_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    writer = _writer(db)
    began: list[object] = []
    event.listen(writer.engine, "begin", began.append)

    def prepare(_dialect: Dialect) -> None:
        raise ValueError("a row that cannot be converted")

    def body(_conn: Connection, _ready: None) -> None:
        raise AssertionError("the body must not run")

    with pytest.raises(ValueError, match="cannot be converted"):
        await writer.prepared(prepare, body)
    assert began == []
    # Nothing is held: another holder takes the lock at once, and the writer goes on.
    fd = os.open(f"{db}-writer", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    await writer.transaction(lambda conn: conn.execute(text("INSERT INTO t VALUES ('a', 1)")))
    assert _rows(db) == [("a", 1)]
    assert len(began) == 1
    await writer.aclose()


@async_test
async def test_busy_database_errors_reach_the_caller(tmp_path: Path) -> None:
    """A connection outside the writer lock holding SQLite's own write lock (a cancel
    through a2a-sdk's store, say) makes the writer wait in SQLite's busy handler and,
    past its timeout, fail with SQLite's error: the group commit retries those."""
    db = tmp_path / "a.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")

    def short_busy(dbapi_connection: object, _record: object) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=50")

    writer = SqliteWriter(
        make_url(f"sqlite:///{db}"), lock=WriterLock(f"{db}-writer"), on_connect=short_busy
    )
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    def body(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES ('a', 1)"))

    with pytest.raises(OperationalError, match="locked"):
        await writer.transaction(body)
    blocker.execute("ROLLBACK")
    blocker.close()
    await writer.transaction(body)
    assert _rows(db) == [("a", 1)]
    await writer.aclose()


@async_test
async def test_a_writer_closes_once_and_never_used_closes_too(tmp_path: Path) -> None:
    writer = _writer(tmp_path / "a.db")
    await writer.aclose()
    await writer.aclose()  # a second close finds nothing left
    with pytest.raises(RuntimeError):  # its thread is gone
        await writer.transaction(lambda conn: conn.execute(text("SELECT 1")))
