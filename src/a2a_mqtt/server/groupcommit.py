"""Group commit for database task stores: concurrent task writes share one transaction.

a2a-sdk's ``VersionedDatabaseTaskStore`` commits every task event in a transaction
of its own (version compare-and-swap, task row, event-log row). A commit is a
disk flush on SQLite and a WAL flush plus a round trip on PostgreSQL, so at 100
requests in flight an agent waits on ~3 commits per request, one after another.

:class:`GroupCommitStore` keeps the SDK's tables, rows and rules and changes only
*when* they are committed: each ``save`` is queued to one writer task per store,
which takes every save waiting at that moment (all the turns that wrote during
the last commit) and commits them in one transaction. ``save`` returns only after
that transaction has committed, so the durability rule is the wrapped store's:
a write reported done is committed (see ``docs/performance.md`` for what the
SQLite ``synchronous`` setting makes of a power loss).

Per write, inside the shared transaction, the same rows are written as by the SDK's
store: the version row (insert for a first write, compare-and-swap update
otherwise), the task row (the same mapping the wrapped store was built with as its
``core_to_model_conversion``), the event-log row. A write whose version check fails
raises ``ConcurrentTaskModificationError`` and writes nothing, exactly as before,
without failing its neighbours. Cancels (which lock and read rows) go to the wrapped
store directly. How a batch reaches the database (the statements, the one-statement
batch on PostgreSQL, a failed batch retried one write at a time) is the writer's:
:mod:`a2a_mqtt.server.groupwriter`. Here: what ``save`` and ``get`` promise, and the
versions this process knows (writes committed behind, reads answered from memory).
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from typing import Any, Final

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    StoredTask,
    TaskVersion,
    VersionedDatabaseTaskStore,
    VersionedTaskStore,
)
from a2a.server.context import ServerCallContext
from a2a.server.models import TaskModel, TaskVersionModel
from a2a.server.owner_resolver import OwnerResolver, resolve_user_scope
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState
from sqlalchemy import Engine, and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from a2a_mqtt.server.batchwrite import (
    KNOWN,
    Write,
    next_version,
    row_to_task,
    task_columns,
    task_dict,
    task_to_row,
)
from a2a_mqtt.server.dbops import autocommit, retry_transient
from a2a_mqtt.server.groupwriter import MAX_BATCH, GroupWriter
from a2a_mqtt.server.inflight import InflightEntry
from a2a_mqtt.server.sqlitewriter import SqliteWriter
from a2a_mqtt.server.turnbatch import Claim, Release

__all__ = ["GroupCommitStore", "row_to_task", "task_columns", "task_to_row"]

_UNKNOWN: Final = object()
_TURN_ENDS: Final = frozenset({
    TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED,
    TaskState.TASK_STATE_REJECTED, TaskState.TASK_STATE_INPUT_REQUIRED,
    TaskState.TASK_STATE_AUTH_REQUIRED})
"""States that end an executor turn: a save into one waits for its commit."""
SAVED: Final = "a2a_mqtt.saved_task_row"
"""The ``ServerCallContext.state`` key of the turn's last committed task and its row's
columns (:meth:`GroupCommitStore.task_dict`): the state lives as long as the request."""


class GroupCommitStore(VersionedTaskStore):
    """A ``VersionedDatabaseTaskStore`` whose concurrent saves commit together.

    Build it over a store created with ``core_to_model_conversion=task_to_row``
    and the default table names (see :func:`a2a_mqtt.server.stores.open_task_store`).
    Reads are one statement each; lists and deletes go to the wrapped store unchanged.

    ``write_behind``: mid-turn writes return before they commit. Only for a store no
    other process reads while this one runs the task (not a pool member: another
    member would not find a task whose first state a streaming client already has).
    """

    def __init__(self, store: VersionedDatabaseTaskStore, engine: AsyncEngine, *,
                 owner_resolver: OwnerResolver = resolve_user_scope,
                 max_batch: int = MAX_BATCH, write_behind: bool = False,
                 sqlite: SqliteWriter | None = None) -> None:
        self.wrapped = store
        self._reader = autocommit(engine)
        self._owner = owner_resolver
        self._write_behind = write_behind
        self._writer = GroupWriter(engine, store, max_batch=max_batch, sqlite=sqlite)
        # (owner, task id) -> the version this process last wrote or read (MISSING: read
        # as absent); the newest write still committing behind, per task.
        self._known: OrderedDict[tuple[str, str], TaskVersion] = OrderedDict()
        self._pending: dict[tuple[str, str], tuple[StoredTask, asyncio.Future[TaskVersion]]] = {}
        self.shared = 0
        """Replies built from a committed row's columns (:meth:`task_dict`; for tests)."""

    @property
    def batches(self) -> int:
        """Batches the writer committed (for tests and benchmarks)."""
        return self._writer.batches

    @property
    def batch_engine(self) -> Engine:
        """The synchronous engine the batches run on (for tests: its statement events)."""
        return self._writer.batch_engine

    @property
    def failed_batches(self) -> int:
        """Batches that failed and were committed one operation at a time (for tests)."""
        return self._writer.failed_batches

    async def aclose(self) -> None:
        """Stop the writer after the writes already queued have committed."""
        await self._writer.aclose()

    async def claim(self, entry: InflightEntry) -> bool:
        """Claim ``entry``'s turn in the next group commit; True once its row committed,
        False if the task has a turn in flight already (see server/turnbatch.py)."""
        claim = Claim(entry)
        self._writer.submit(claim)
        return await asyncio.shield(claim.done)

    def release(self, task_id: str, owner: str) -> None:
        """Queue the release of a turn for the next group commit (not waited for)."""
        self._writer.submit(Release(task_id, owner))

    async def save(self, task: Task, *, event: Any = None, prev: Task | None = None,
                   prev_version: TaskVersion, context: ServerCallContext) -> TaskVersion:
        key = (self._owner(context), task.id)
        self._writer.take_fresh(task.id)  # a read from before this write is stale now
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            # A cancel locks and reads the stored rows: the SDK's own path, alone, after
            # this task's queued writes.
            await self._settled(key)
            self._known.pop(key, None)
            version = await self.wrapped.save(task, event=event, prev=prev,
                                              prev_version=prev_version, context=context)
            self._remember(key, version)
            return version
        snapshot = Task()
        snapshot.CopyFrom(task)  # the caller may change its task while the write waits
        write = Write(snapshot, event, prev_version, key[0], context)
        # Mid-turn, on a version this process wrote or read last: commit behind.
        write.behind = (self._write_behind and task.status.state not in _TURN_ENDS
                        and self._known.get(key, _UNKNOWN) == prev_version)
        self._writer.submit(write)
        if write.behind:
            version = TaskVersion(next_version(prev_version))
            self._remember(key, version)
            self._pending[key] = (StoredTask(snapshot, version), write.done)
            write.done.add_done_callback(functools.partial(self._behind_done, key))
            return version
        try:
            version = await asyncio.shield(write.done)
        except ConcurrentTaskModificationError:
            self._known.pop(key, None)
            raise
        self._remember(key, version)
        if write.columns is not None and snapshot.status.state in _TURN_ENDS:
            context.state[SAVED] = (snapshot, write.columns)
        return version

    def task_dict(self, task: Task, context: ServerCallContext) -> dict[str, Any] | None:
        """``MessageToDict(task)`` from the row this request's turn committed last, when
        ``task`` is that row's task (the reply to a blocking send usually is; one with
        its history trimmed is not); None otherwise. Takes the entry either way."""
        saved = context.state.pop(SAVED, None)
        if saved is None or saved[0] != task:
            return None
        found = task_dict(task, saved[1])
        if found is not None:
            self.shared += 1
        return found

    def _behind_done(self, key: tuple[str, str], done: asyncio.Future[TaskVersion]) -> None:
        entry = self._pending.get(key)
        if entry is not None and entry[1] is done:
            del self._pending[key]
        if done.exception() is not None:
            # Its version never reached the database: the task's next write is checked
            # there (and fails its version check), not answered from memory.
            self._known.pop(key, None)

    def _remember(self, key: tuple[str, str], version: TaskVersion) -> None:
        self._known[key] = version
        self._known.move_to_end(key)
        if len(self._known) > KNOWN:
            self._known.popitem(last=False)

    async def _settled(self, key: tuple[str, str] | None = None) -> None:
        """Wait until the committed-behind writes (of ``key``, or all) have committed."""
        waits = [done for k, (_, done) in self._pending.items() if key is None or k == key]
        if waits:
            await asyncio.gather(*waits, return_exceptions=True)

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        """The task and its version in one statement on an autocommit connection: a
        session's BEGIN and closing ROLLBACK would be two more round trips per read,
        and the dispatcher reads every task it is asked about."""
        owner = self._owner(context)
        pending = self._pending.get((owner, task_id))
        if pending is not None:  # this process's newest write, still committing
            copy = Task()
            copy.CopyFrom(pending[0].task)
            return StoredTask(copy, pending[0].version)
        fresh = self._writer.take_fresh(task_id)
        if fresh is not None:  # read by this process's claim of the task, just now
            stored = fresh.get(owner)
            self._writer.lost.pop((owner, task_id), None)
            self._remember((owner, task_id),
                           TaskVersion.MISSING if stored is None else stored.version)
            return stored
        tasks = TaskModel.__table__
        stmt = (select(tasks, TaskVersionModel.version)
                .outerjoin(TaskVersionModel.__table__,
                           and_(TaskVersionModel.task_id == tasks.c.id,
                                TaskVersionModel.owner == tasks.c.owner))
                .where(tasks.c.id == task_id, tasks.c.owner == owner))

        async def once() -> Any:
            async with self._reader.connect() as conn:
                return (await conn.execute(stmt)).one_or_none()

        row = await retry_transient(once, what="task read")
        if (owner, task_id) not in self._pending:
            # What a caller builds on from here is real.
            self._writer.lost.pop((owner, task_id), None)
        if row is None:
            if (owner, task_id) not in self._pending:  # no write of ours came in between
                self._remember((owner, task_id), TaskVersion.MISSING)
            return None
        if row.protocol_version != "1.0":  # an older row layout: the SDK converts it
            return await self.wrapped.get(task_id, context)
        version = TaskVersion(row.version) if row.version is not None else TaskVersion.MISSING
        if (owner, task_id) not in self._pending:
            self._remember((owner, task_id), version)
        return StoredTask(row_to_task(row), version)

    async def list(self, params: ListTasksRequest,
                   context: ServerCallContext) -> ListTasksResponse:
        await self._settled()
        return await self.wrapped.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        key = (self._owner(context), task_id)
        await self._settled(key)
        self._known.pop(key, None)
        await self.wrapped.delete(task_id, context)
