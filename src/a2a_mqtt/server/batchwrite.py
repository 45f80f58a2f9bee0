"""The statements of one group commit, and the task-row mapping both writers share.

Split from :mod:`a2a_mqtt.server.groupcommit` (the store and its writer task): here
is what one batch does inside its transaction (the writer task and the callers' waiting
stay there).
"""

from __future__ import annotations

import asyncio
import builtins
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from a2a.server.cluster import ConcurrentTaskModificationError, TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.models import TaskEventModel, TaskModel, TaskVersionModel
from a2a.types.a2a_pb2 import Task
from a2a.utils.proto_utils import to_stream_response
from google.protobuf.json_format import MessageToDict, ParseDict
from sqlalchemy import Table, and_, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from a2a_mqtt.server.dbops import insert_absent, upsert

__all__ = ["KNOWN", "Lost", "Write", "apply_batch", "builds_on_lost", "lose", "next_version",
           "row_to_task", "task_columns", "task_to_row"]

KNOWN: Final = 10_000
"""Tasks whose last seen version is remembered (least recently used forgotten first)."""

def task_columns(task: Task, owner: str) -> dict[str, Any]:
    """The ``tasks`` row for ``task`` by column name: the SDK's own mapping (protocol 1.0)."""
    return {
        "id": task.id, "context_id": task.context_id, "kind": "task", "owner": owner,
        "last_updated": (task.status.timestamp.ToDatetime()
                         if task.status.HasField("timestamp") else None),
        "status": MessageToDict(task.status),
        "artifacts": [MessageToDict(a) for a in task.artifacts],
        "history": [MessageToDict(m) for m in task.history],
        "metadata": MessageToDict(task.metadata) if task.metadata.fields else None,
        "protocol_version": "1.0"}


def task_to_row(task: Task, owner: str) -> TaskModel:
    """:func:`task_columns` as the ORM object the SDK's store writes, handed to it as its
    public ``core_to_model_conversion`` so both writers produce the same rows."""
    values = task_columns(task, owner)
    values["task_metadata"] = values.pop("metadata")
    return TaskModel(**values)


def row_to_task(row: Any) -> Task:
    """The task in a protocol-1.0 ``tasks`` row (the inverse of :func:`task_columns`)."""
    task = Task(id=row.id, context_id=row.context_id)
    if row.status:
        ParseDict(row.status, task.status)
    for artifact in row.artifacts or ():
        ParseDict(artifact, task.artifacts.add())
    for message in row.history or ():
        ParseDict(message, task.history.add())
    if row.metadata:
        task.metadata.update(row.metadata)
    return task


@dataclass(slots=True)
class Write:
    task: Task
    event: Any
    prev_version: TaskVersion
    owner: str
    context: ServerCallContext
    behind: bool = False
    """Its caller has its version already and does not wait for the commit."""
    done: asyncio.Future[TaskVersion] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


Lost = OrderedDict[tuple[str, str], TaskVersion]
"""(owner, task id) -> the version a write of the task would have made but did not
(its version check failed). Versions are write counters, so the next write built on
that number could match another writer's row of the same number: it must fail too,
as it would have in the SDK's store, where the lost write's caller saw the failure."""


def builds_on_lost(lost: Lost, write: Write) -> bool:
    """Whether ``write`` builds on a version that never reached the database (then it
    is lost in turn)."""
    key = (write.owner, write.task.id)
    if write.prev_version.is_missing or lost.get(key) != write.prev_version:
        return False
    lose(lost, write)
    return True


def lose(lost: Lost, write: Write) -> None:
    key = (write.owner, write.task.id)
    if not write.behind:
        # Its caller sees the failure (as with the SDK's store) and reads again.
        lost.pop(key, None)
        return
    lost[key] = TaskVersion(next_version(write.prev_version))
    lost.move_to_end(key)
    if len(lost) > KNOWN:
        lost.popitem(last=False)


async def apply_batch(conn: AsyncConnection, batch: Sequence[Write], lost: Lost
                 ) -> builtins.list[TaskVersion | Exception]:
    """The batch's statements in one transaction, a few per batch rather than three per
    write: the version rows (one insert for all first writes, one compare-and-swap
    update for all others, each returning the tasks it moved), then the task rows
    (one executemany upsert) and the event rows (one executemany insert) of the
    writes whose version moved. A lost version check writes nothing for that write
    and is its outcome. A task written twice in one batch (the handler awaits each
    save, so only a stray concurrent writer does that) is applied in a later round,
    after its first write."""
    dialect = conn.dialect.name
    outcomes: builtins.list[TaskVersion | Exception | None] = [None] * len(batch)
    pending = builtins.list(range(len(batch)))
    while pending:
        seen: set[tuple[str, str]] = set()
        now: builtins.list[int] = []
        later: builtins.list[int] = []
        for i in pending:
            key = (batch[i].task.id, batch[i].owner)
            (later if key in seen else now).append(i)
            seen.add(key)
        for i in now:
            if builds_on_lost(lost, batch[i]):
                outcomes[i] = ConcurrentTaskModificationError(batch[i].task.id)
        now = [i for i in now if outcomes[i] is None]
        moved = await _move_versions(conn, dialect, [batch[i] for i in now])
        rows, events = [], []
        for i in now:
            write = batch[i]
            if (write.task.id, write.owner) not in moved:
                lose(lost, write)
                outcomes[i] = ConcurrentTaskModificationError(write.task.id)
                continue
            lost.pop((write.owner, write.task.id), None)
            version = next_version(write.prev_version)
            outcomes[i] = TaskVersion(version)
            rows.append(task_columns(write.task, write.owner))
            if write.event is not None:
                events.append({"task_id": write.task.id, "owner": write.owner,
                               "task_version": version, "event_data": to_stream_response(
                                   write.event).SerializeToString()})
        if rows:
            await conn.execute(upsert(dialect, TaskModel.__table__, rows[0], key=("id",)),
                               rows)
        if events:
            await conn.execute(insert(TaskEventModel), events)
        pending = later
    return [o if o is not None else RuntimeError("write not applied") for o in outcomes]


async def _move_versions(conn: AsyncConnection, dialect: str,
                         writes: Sequence[Write]) -> set[tuple[str, str]]:
    """Advance each write's version row if it still holds the version the write was
    derived from (a first write: if there is none); the (task, owner) pairs moved."""
    table: Table = TaskVersionModel.__table__  # type: ignore[assignment]  # a Table
    moved: set[tuple[str, str]] = set()
    firsts = [w for w in writes if w.prev_version.is_missing]
    others = [w for w in writes if not w.prev_version.is_missing]
    if firsts:
        stmt = insert_absent(dialect, table, [
            {"task_id": w.task.id, "owner": w.owner, "version": 1} for w in firsts])
        result = await conn.execute(stmt.returning(table.c.task_id, table.c.owner))
        moved.update((r.task_id, r.owner) for r in result)
    if others:
        stmt = (update(table)
                .where(or_(*(and_(table.c.task_id == w.task.id, table.c.owner == w.owner,
                                  table.c.version == _version_int(w.prev_version))
                             for w in others)))
                .values(version=table.c.version + 1)
                .returning(table.c.task_id, table.c.owner))
        moved.update((r.task_id, r.owner) for r in await conn.execute(stmt))
    return moved


def next_version(prev: TaskVersion) -> int:
    return 1 if prev.is_missing else _version_int(prev) + 1


def _version_int(version: TaskVersion) -> int:
    """The write counter a database-store version wraps, read from its documented
    ``repr`` (``TaskVersion(3)``): the class offers no public accessor."""
    text = repr(version)
    if not (text.startswith("TaskVersion(") and text.endswith(")")):
        raise TypeError(f"not a database task version: {text}")
    return int(text[len("TaskVersion("):-1])
