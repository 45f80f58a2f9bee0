"""Which database errors the claim and in-flight paths retry (no I/O)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from a2a_mqtt.server.dbops import is_transient, retry_transient


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
