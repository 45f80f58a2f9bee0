"""Task stores by URL: in-memory, SQLite or PostgreSQL through a2a-sdk's own stores."""

from __future__ import annotations

from contextlib import AsyncExitStack

from a2a.server.tasks import DatabaseTaskStore, InMemoryTaskStore, TaskStore
from sqlalchemy.ext.asyncio import create_async_engine

from a2a_mqtt.errors import ConfigError

__all__ = ["open_task_store"]

_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}


async def open_task_store(url: str | None, stack: AsyncExitStack) -> TaskStore:
    """A ready task store for ``url`` whose engine ``stack`` disposes of.

    ``None`` or ``memory://`` gives an in-memory store; ``sqlite:///path.db``
    and ``postgresql://user@host/db`` (or their SQLAlchemy async spellings)
    give a2a-sdk's DatabaseTaskStore, creating its table when missing.
    """
    if url is None or url in ("memory", "memory://"):
        return InMemoryTaskStore()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"task store URL {url!r} needs a scheme (sqlite:///, postgresql://)")
    scheme = _ALIASES.get(scheme, scheme)
    if not scheme.startswith(("sqlite", "postgresql")):
        raise ConfigError(f"unsupported task store {scheme!r}: use memory://, sqlite:/// "
                          "or postgresql://")
    engine = create_async_engine(f"{scheme}://{rest}")
    stack.push_async_callback(engine.dispose)
    store = DatabaseTaskStore(engine, create_table=True)
    await store.initialize()
    return store
