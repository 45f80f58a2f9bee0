"""Which database errors the claim and in-flight paths retry (no I/O)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from a2a_mqtt.errors import StoreError
from a2a_mqtt.server.dbops import is_transient, retry_transient, store_error, store_problem


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_locks_and_lost_connections_are_transient() -> None:
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(locked)
    assert is_transient(DBAPIError("x", {}, _PgError("40001")))  # serialization failure
    assert is_transient(DBAPIError("x", {}, _PgError("40P01")))  # deadlock
    assert is_transient(DBAPIError("x", {}, Exception("gone"), connection_invalidated=True))


def test_real_errors_are_not_retried() -> None:
    assert not is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(ProgrammingError("SELECT", {}, Exception("no such table")))
    assert not is_transient(DBAPIError("x", {}, _PgError("23505")))
    assert not is_transient(ValueError("not a database error"))


def test_retry_gives_up_after_the_attempts_and_raises_the_error() -> None:
    calls = 0

    async def locked() -> None:
        nonlocal calls
        calls += 1
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    with pytest.raises(OperationalError):
        asyncio.run(retry_transient(locked, what="test", attempts=3))
    assert calls == 3


def test_retry_returns_once_the_error_passes() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise DBAPIError("x", {}, _PgError("40001"))
        return "ok"

    assert asyncio.run(retry_transient(flaky, what="test")) == "ok"
    assert calls == 2


def _sqlite(code: int, name: str, text: str) -> OperationalError:
    orig = sqlite3.OperationalError(text)
    orig.sqlite_errorcode = code  # type: ignore[attr-defined]
    orig.sqlite_errorname = name  # type: ignore[attr-defined]
    return OperationalError("INSERT", {}, orig)


def test_a_full_disk_is_a_problem_for_the_operator_not_a_transient_error() -> None:
    for code, name in ((13, "SQLITE_FULL"), (4874, "SQLITE_IOERR_SHMSIZE")):
        exc = _sqlite(code, name, "database or disk is full")
        assert not is_transient(exc)
        problem = store_problem(exc)
        assert problem is not None and "full" in problem and name in problem
    pg = DBAPIError("INSERT", {}, _PgError("53100"))
    assert not is_transient(pg)
    assert "disk is full" in (store_problem(pg) or "")


def test_operator_problems_name_the_fix() -> None:
    assert "read-only" in (store_problem(_sqlite(8, "SQLITE_READONLY", "ro")) or "")
    assert "corrupt" in (store_problem(_sqlite(11, "SQLITE_CORRUPT", "bad")) or "")
    assert "not an SQLite database" in (store_problem(_sqlite(26, "SQLITE_NOTADB", "x")) or "")
    assert "does not exist" in (store_problem(DBAPIError("c", {}, _PgError("3D000"))) or "")
    assert store_problem(_sqlite(5, "SQLITE_BUSY", "database is locked")) is None
    assert is_transient(_sqlite(5, "SQLITE_BUSY", "database is locked"))


def test_store_error_is_one_line_naming_the_store() -> None:
    err = store_error(_sqlite(13, "SQLITE_FULL", "database or disk is full"),
                      "sqlite+aiosqlite:////data/a.db")
    assert isinstance(err, StoreError)
    text = str(err)
    assert "\n" not in text and text.startswith("task store sqlite+aiosqlite:////data/a.db: ")
    assert "free space" in text
    unknown = store_error(OSError(111, "Connect call failed"), "postgresql://u:***@h/db")
    assert "cannot be reached" in str(unknown) and "***" in str(unknown)
    other = store_error(RuntimeError("odd\nsecond line"), "sqlite:///x.db")
    assert str(other) == "task store sqlite:///x.db: RuntimeError: odd"
