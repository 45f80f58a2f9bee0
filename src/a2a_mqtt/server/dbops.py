"""Small database operations our own tables share: claim-by-insert and transient retries.

Both claim tables (request claims, the in-flight log) use the same primitive: an
``INSERT`` that does nothing when the key exists, whose row count says who won.
Losing is the common case in claim-mode pools (every member races for every
request), so it must not cost an exception and a rollback.

Transient errors — SQLite's "database is locked", a PostgreSQL serialization
failure or deadlock, a dropped connection — are retried with backoff; anything
else, or a transient error that outlasts the retries, propagates. Conditions
only an operator can clear (a full disk, a read-only or corrupt file, a
missing database) are never retried: :func:`store_problem` names them and the
fix, and :func:`store_error` turns them into one clear :class:`StoreError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from a2a_mqtt.errors import StoreError

__all__ = ["autocommit", "insert_absent", "insert_new", "is_transient", "retry_transient",
           "store_error", "store_problem", "upsert"]

log = logging.getLogger("a2a_mqtt.server")

T = TypeVar("T")

# The two dialects open_task_store accepts, both with ON CONFLICT DO NOTHING.
_INSERTS: Final[dict[str, Any]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})
_ATTEMPTS: Final = 8
_FIRST_DELAY: Final = 0.02
_MAX_DELAY: Final = 1.0

_FULL: Final = "the disk holding it is full (or failing); free space there and start again"
# SQLite primary result codes (the low byte of sqlite_errorcode).
_SQLITE_PROBLEMS: Final[dict[int, str]] = {
    3: "access to the database file was denied; fix its permissions",
    8: "the database file is read-only; make it and its directory writable",
    10: _FULL,
    11: "the database file is corrupt; restore it from a backup or move it aside",
    13: _FULL,
    14: "the database file cannot be opened; check that its directory exists and is "
        "writable",
    26: "the file is not an SQLite database; point the store URL at the right file",
}
_PG_PROBLEMS: Final[dict[str, str]] = {
    "53100": "PostgreSQL's disk is full; free space on the database server",
    "25006": "PostgreSQL is read-only (a standby?); point the store URL at the primary",
    "3D000": "the database does not exist; create it or fix the store URL",
    "28000": "PostgreSQL refused the login; fix the user or password in the store URL",
    "28P01": "PostgreSQL refused the password; fix the store URL",
    "42501": "PostgreSQL denied the operation; grant the store's user rights on its tables",
}


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` without BEGIN/COMMIT around each statement (same connection pool).

    Every write to our own tables is one statement, atomic by itself; leaving out
    the explicit transaction saves two round trips per claim and per release,
    which pool members make for every request.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def store_problem(exc: BaseException) -> str | None:
    """What an operator must fix when ``exc`` is a condition retries cannot clear
    (full disk, read-only, corrupt, missing database, refused login), else None."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, ConnectionRefusedError | socket.gaierror):
        return (f"the database server cannot be reached ({orig}); start it or fix the "
                "host and port in the store URL")
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        problem = _SQLITE_PROBLEMS.get(code & 0xFF)
        if problem is not None:
            name = getattr(orig, "sqlite_errorname", "") or f"code {code}"
            return f"{problem} (SQLite: {name}, {orig})"
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate in _PG_PROBLEMS:
        return f"{_PG_PROBLEMS[sqlstate]} (SQLSTATE {sqlstate})"
    return None


def store_error(exc: BaseException, where: str) -> StoreError:
    """One line for an operator: which store (``where``, no password), what is wrong,
    how to fix it; falls back to the driver's own message for anything unknown."""
    problem = store_problem(exc)
    if problem is None:
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        problem = f"{type(orig).__name__}: {detail}"
    return StoreError(f"task store {where}: {problem}")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is contention or a lost connection, worth another attempt."""
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
        return False
    if store_problem(exc) is not None:
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    # sqlite3.OperationalError ("database is locked"), asyncpg connection errors.
    return type(exc).__name__ in ("OperationalError", "InterfaceError")


async def retry_transient(op: Callable[[], Awaitable[T]], *, what: str,
                          attempts: int = _ATTEMPTS) -> T:
    """``await op()``, retrying transient database errors with jittered backoff."""
    delay = _FIRST_DELAY
    for attempt in range(1, attempts + 1):
        try:
            return await op()
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.debug("%s: transient database error (attempt %d): %s", what, attempt, exc)
        await asyncio.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, _MAX_DELAY)
    raise AssertionError("unreachable")  # pragma: no cover


async def insert_new(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` unless a row with the same primary key exists; True if inserted."""
    stmt = _INSERTS[conn.dialect.name](table).values(values).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


def insert_absent(dialect: str, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` for ``dialect``, without values:
    executed with a list of rows it is one executemany (SQLAlchemy's "insertmanyvalues",
    compiled once and cached, where a multi-row ``VALUES`` would be compiled for every
    row count); its ``RETURNING`` rows are the rows that were new."""
    key = (dialect, table.name, "absent")
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = _INSERTS[dialect](table).on_conflict_do_nothing()
    return stmt


def upsert(dialect: str, table: Any, *, key: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` every other column, without values (run
    it with a list of rows: one cached executemany)."""
    cache_key = (dialect, table.name, "upsert", *key)
    stmt = _STATEMENTS.get(cache_key)
    if stmt is None:
        base = _INSERTS[dialect](table)
        stmt = _STATEMENTS[cache_key] = base.on_conflict_do_update(
            index_elements=list(key),
            set_={c.name: base.excluded[c.name] for c in table.columns if c.name not in key})
    return stmt


_STATEMENTS: dict[tuple[str, ...], Any] = {}
"""Statements built once per dialect and table (SQLAlchemy caches their compiled form)."""
