"""Task stores for benches: ``memory://``, a SQLite file, a throwaway PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

__all__ = ["POSTGRES_DEFAULT", "postgres_database", "store_url"]

#: The PostgreSQL of the development machine (trust, database ``test``).
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@asynccontextmanager
async def postgres_database(dsn: str, *, prefix: str = "a2a_bench") -> AsyncIterator[str]:
    """A new, empty database on ``dsn``'s server, dropped on exit (even with sessions
    still open); yields its ``postgresql://`` URL."""
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
                                isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{dsn.rsplit('/', 1)[0]}/{name}"
        finally:
            async with admin.connect() as conn:
                await conn.execute(
                    sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def store_url(kind: str, work: Path, dsn: str = POSTGRES_DEFAULT, *,
                    prefix: str = "a2a_bench") -> AsyncIterator[str]:
    """A task store URL of ``kind`` (``memory``, ``sqlite``: a file in ``work``,
    ``postgres``: :func:`postgres_database` on ``dsn``), valid inside the block."""
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{work}/tasks.db"
    elif kind == "postgres":
        async with postgres_database(dsn, prefix=prefix) as url:
            yield url
    else:
        raise ValueError(f"unknown store {kind!r} (memory, sqlite, postgres)")
