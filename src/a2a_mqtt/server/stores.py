"""Task stores by URL — in-memory, SQLite or PostgreSQL through a2a-sdk's own stores.

A database URL gives a2a-sdk's cluster pieces: ``VersionedDatabaseTaskStore``
(optimistic versioning, so pool members sharing the database never overwrite
each other's writes) and ``DatabaseTaskEventStream`` (every task event is
logged in the same transaction, so SubscribeToTask on one member streams a task
running on another). :class:`TaskAccess` gives the rest of the server one way
to read a task and to fail an abandoned one, whichever kind of store it is.
"""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Final

from a2a.server.cluster import (
    DatabaseTaskEventStream,
    StoredTask,
    TaskEventStream,
    TaskVersion,
    VersionedDatabaseTaskStore,
    VersionedTaskStore,
)
from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore, TaskStore
from a2a.types.a2a_pb2 import (
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    Task,
    TaskState,
    TaskStatusUpdateEvent,
)
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.server.dbops import store_error, store_problem
from a2a_mqtt.server.groupcommit import GroupCommitStore, task_to_row
from a2a_mqtt.server.sqlitewriter import SqliteWriter
from a2a_mqtt.server.writerlock import WriterLock, writer_lock_path

__all__ = ["KNOWN_ABSENT", "KnownAbsentStore", "KnownAbsentTaskStore", "OpenedStore",
           "TaskAccess", "create_tables", "display_url", "open_task_store", "single_process"]

KNOWN_ABSENT: Final = "a2a_mqtt.known_absent_task"
"""Call-context key: the id of a task this request has found absent while holding its
turn (see :class:`KnownAbsentStore`)."""

_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}
_CREATE_ATTEMPTS = 6
_SQLITE_BUSY_MS = 10_000
_TERMINAL = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                       TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})


@dataclass(frozen=True, slots=True)
class OpenedStore:
    """What the request handler is given, plus the engine (None in memory)."""

    store: TaskStore | VersionedTaskStore
    event_stream: TaskEventStream | None = None
    engine: AsyncEngine | None = None


_SQLITE_POOL = 4  # connections per process
_PG_POOL = 16  # connections per process (PostgreSQL's default limit is 100 in all)
_SQLITE_CACHE_KIB = 512  # page cache per connection; the OS page cache does the rest


def database_url(url: str) -> str:
    """The SQLAlchemy async URL for ``sqlite:///...`` / ``postgresql://...`` spellings."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"task store URL {url!r} needs a scheme (sqlite:///, postgresql://)")
    scheme = _ALIASES.get(scheme, scheme)
    if not scheme.startswith(("sqlite", "postgresql")):
        raise ConfigError(f"unsupported task store {scheme!r}: use memory://, sqlite:/// "
                          "or postgresql://")
    return f"{scheme}://{rest}"


async def open_task_store(url: str | None, stack: AsyncExitStack, *,
                          group_commit: bool = True, write_behind: bool = False
                          ) -> OpenedStore:
    """A ready store for ``url``; ``stack`` disposes of its engine.

    ``None`` or ``memory://`` gives an in-memory store (one process only). A database
    store commits concurrent task writes together (:class:`GroupCommitStore`) unless
    ``group_commit`` is False (the SDK's store alone: one transaction per write);
    ``write_behind`` lets mid-turn writes return before they commit (only for a store
    no other process reads meanwhile: see :class:`GroupCommitStore`).
    """
    if url is None or url in ("memory", "memory://"):
        return OpenedStore(InMemoryTaskStore())
    db_url = database_url(url)
    # SQLite has one writer at a time, so more pooled connections add no throughput, only
    # memory: each holds its own page cache (and aiosqlite a thread). Bound both.
    # PostgreSQL: a fixed pool, no overflow. Overflow connections are closed on return,
    # so at 100 requests in flight the default (5 + 10 overflow) opened and closed a
    # server connection (a backend process) for most requests; waiting a moment for
    # one of the pooled connections is far cheaper.
    engine = (create_async_engine(db_url, pool_size=_SQLITE_POOL, max_overflow=0)
              if db_url.startswith("sqlite")
              else create_async_engine(db_url, pool_size=_PG_POOL, max_overflow=0))
    stack.push_async_callback(engine.dispose)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    sdk_store = VersionedDatabaseTaskStore(engine, create_table=True,
                                           core_to_model_conversion=task_to_row)
    stream = DatabaseTaskEventStream(engine, create_table=True, poll_interval_s=0.1)
    try:
        await create_tables(sdk_store.initialize, stream.initialize)
    except (DBAPIError, OSError) as exc:
        # The first use of the store: a full disk, a missing directory or database,
        # an unreachable server all end the start here, in one line with the fix.
        raise store_error(exc, display_url(engine)) from exc
    if not group_commit:
        return OpenedStore(sdk_store, stream, engine)
    lock_path = (writer_lock_path(engine.url.database) if engine.dialect.name == "sqlite"
                 else None)
    sqlite = None
    if lock_path is not None:  # a SQLite file: its transactions whole on a thread
        lock = WriterLock(lock_path)
        stack.callback(lock.close)  # after the store's writer is gone (LIFO)
        sqlite = SqliteWriter(engine.url, lock=lock, on_connect=_sqlite_pragmas)
    store = GroupCommitStore(sdk_store, engine, write_behind=write_behind, sqlite=sqlite)
    stack.push_async_callback(store.aclose)  # before the engine goes (LIFO)
    return OpenedStore(store, stream, engine)


_NO_STREAM_NOTICE: Final = "configured without an event_stream"


class _NoStreamNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _NO_STREAM_NOTICE not in record.getMessage()


@contextmanager
def single_process(chosen: bool) -> Iterator[None]:
    """Around a request handler's construction: when ``chosen`` (a database store that
    one process alone runs tasks on, so no cross-replica event stream), silence
    a2a-sdk's warning that cross-replica streaming is off; it is off on purpose."""
    if not chosen:
        yield
        return
    notice = _NoStreamNotice()
    sdk_log = logging.getLogger("a2a.server.request_handlers.default_request_handler_v2")
    sdk_log.addFilter(notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=f".*{_NO_STREAM_NOTICE}")
            yield
    finally:
        sdk_log.removeFilter(notice)


def display_url(engine: AsyncEngine) -> str:
    """The engine's URL as an operator may see it (never its password)."""
    return engine.url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Several processes (pool members) share one SQLite file: WAL lets readers run
    beside the writer, and writers wait for the lock instead of failing at once with
    "database is locked". synchronous=NORMAL is durable across process crashes in
    WAL mode (only a power loss can take the last commits)."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                       f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}",
                       f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}"):
            cursor.execute(pragma)
    finally:
        cursor.close()


async def create_tables(*steps: Callable[[], Awaitable[None]]) -> None:
    """Run table-creating steps, retrying the race between processes starting together.

    ``CREATE TABLE`` is check-then-create: two pool members starting at once can both
    see no table and one of them fails with "already exists"; on a retry it is there.

    A cancel (a host whose other agent failed to start) waits for the steps to end,
    then propagates: these are a store's first connections, and aiosqlite cancelled
    while it opens one leaves that connection's thread to finish after the event loop
    has closed (where it fails), outside the pool the engine disposes of.
    """
    work = asyncio.ensure_future(_create_tables(steps))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():
            await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # retrieved: the cancel is what the caller is told
        raise


async def _create_tables(steps: tuple[Callable[[], Awaitable[None]], ...]) -> None:
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            for step in steps:
                await step()
            return
        except DBAPIError as exc:
            if attempt + 1 == _CREATE_ATTEMPTS or store_problem(exc) is not None:
                raise
            await asyncio.sleep(0.05 * (attempt + 1) * (1 + random.random()))


class KnownAbsentStore(VersionedTaskStore):
    """A versioned store that skips reads the dispatcher already knows the answer to.

    For a new task the dispatcher reads the store while holding the task's in-flight
    turn (which no other member can take) and finds nothing; a2a-sdk's handler then
    reads the same task twice more before its first write. Until that write the task
    cannot exist, so those reads are answered here, without the database, for the
    request whose call context carries the id under :data:`KNOWN_ABSENT`. Everything
    else goes to the wrapped store unchanged.
    """

    def __init__(self, store: VersionedTaskStore) -> None:
        self.wrapped = store

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        if context.state.get(KNOWN_ABSENT) == task_id:
            return None
        return await self.wrapped.get(task_id, context)

    async def save(self, task: Task, *, event: Any = None, prev: Task | None = None,
                   prev_version: TaskVersion, context: ServerCallContext) -> TaskVersion:
        if context.state.get(KNOWN_ABSENT) == task.id:
            del context.state[KNOWN_ABSENT]  # from the first write on, it exists
        return await self.wrapped.save(task, event=event, prev=prev,
                                       prev_version=prev_version, context=context)

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        return await self.wrapped.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self.wrapped.delete(task_id, context)


class KnownAbsentTaskStore(TaskStore):
    """:class:`KnownAbsentStore` for a plain (unversioned) store, the memory store's kind.

    The same rule: until its first write, a task the dispatcher found absent while
    holding its turn is answered absent for that request without a read. On the lean
    path a new task was read three times before its first write (the dispatcher, the
    handler, the first Task event); two of those were 2 % of the agent's CPU with the
    memory store, which copies and logs on every read.
    """

    def __init__(self, store: TaskStore) -> None:
        self.wrapped = store

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        if context.state.get(KNOWN_ABSENT) == task_id:
            return None
        return await self.wrapped.get(task_id, context)

    async def save(self, task: Task, context: ServerCallContext) -> None:
        if context.state.get(KNOWN_ABSENT) == task.id:
            del context.state[KNOWN_ABSENT]  # from the first write on, it exists
        await self.wrapped.save(task, context)

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        return await self.wrapped.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self.wrapped.delete(task_id, context)


class TaskAccess:
    """Reads tasks and fails abandoned ones, over either kind of store."""

    def __init__(self, store: TaskStore | VersionedTaskStore) -> None:
        self._store = store

    def saved_dict(self, task: Task, context: ServerCallContext) -> dict[str, Any] | None:
        """``MessageToDict(task)`` from the row a group-commit store just wrote for it
        (one conversion of the final task per durable turn, not two); None when there
        is none to take it from."""
        if isinstance(self._store, GroupCommitStore):
            return self._store.task_dict(task, context)
        return None

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        if isinstance(self._store, VersionedTaskStore):
            stored = await self._store.get(task_id, context)
            return stored.task if stored is not None else None
        return await self._store.get(task_id, context)

    async def fail(self, task_id: str, reason: str, context: ServerCallContext,
                   *, context_id: str = "") -> Task:
        """Mark a task FAILED with ``reason`` and return it.

        A task that is already terminal is returned unchanged: its outcome stands.
        A task the store has not seen yet (its agent died before the first write)
        is written as FAILED, so a retry finds the outcome instead of starting over.
        """
        prev_version: TaskVersion = TaskVersion.MISSING
        prev: Task | None
        if isinstance(self._store, VersionedTaskStore):
            stored = await self._store.get(task_id, context)
            prev = stored.task if stored is not None else None
            if stored is not None:
                prev_version = stored.version
        else:
            prev = await self._store.get(task_id, context)
        if prev is None:
            prev = Task(id=task_id, context_id=context_id)
        if prev.status.state in _TERMINAL:
            return prev
        failed = Task()
        failed.CopyFrom(prev)
        failed.status.state = TaskState.TASK_STATE_FAILED
        failed.status.message.CopyFrom(Message(
            message_id=f"{task_id}-abandoned", role=Role.ROLE_AGENT, task_id=task_id,
            context_id=prev.context_id, parts=[Part(text=reason)]))
        failed.status.timestamp.GetCurrentTime()
        if isinstance(self._store, VersionedTaskStore):
            event = TaskStatusUpdateEvent(task_id=task_id, context_id=prev.context_id,
                                          status=failed.status)
            await self._store.save(failed, event=event,
                                   prev=None if prev_version.is_missing else prev,
                                   prev_version=prev_version, context=context)
        else:
            await self._store.save(failed, context)
        return failed
