"""Small database operations our own tables share: claim-by-insert and transient retries.

Both claim tables (request claims, the in-flight log) use the same primitive: an
``INSERT`` that does nothing when the key exists, whose row count says who won.
Losing is the common case in claim-mode pools (every member races for every
request), so it must not cost an exception and a rollback.

Transient errors — SQLite's "database is locked", a PostgreSQL serialization
failure or deadlock, a dropped connection — are retried with backoff; anything
else, or a transient error that outlasts the retries, propagates.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["autocommit", "insert_new", "is_transient", "retry_transient"]

log = logging.getLogger("a2a_mqtt.server")

T = TypeVar("T")

# The two dialects open_task_store accepts, both with ON CONFLICT DO NOTHING.
_INSERTS: Final[dict[str, Any]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})
_ATTEMPTS: Final = 8
_FIRST_DELAY: Final = 0.02
_MAX_DELAY: Final = 1.0


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` without BEGIN/COMMIT around each statement (same connection pool).

    Every write to our own tables is one statement, atomic by itself; leaving out
    the explicit transaction saves two round trips per claim and per release,
    which pool members make for every request.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is contention or a lost connection, worth another attempt."""
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
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
