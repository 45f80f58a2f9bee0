"""The statements of one group commit, and the task-row mapping both writers share.

Split from :mod:`a2a_mqtt.server.groupcommit` (the store and its writer task): here
is what one batch does inside its transaction (the writer task and the callers' waiting
stay there).
"""

from __future__ import annotations

import asyncio
import builtins
from collections import OrderedDict
from collections.abc import Callable, Sequence
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

__all__ = ["KNOWN", "Lost", "Outcomes", "Write", "apply_batch", "builds_on_lost", "chains",
           "event_data", "event_rows", "finished", "lose", "next_version", "plan_round",
           "row_to_task", "settle_round", "tail_columns", "task_columns", "task_dict",
           "task_to_row", "unit_rows", "version_int"]

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


_ROW_FIELDS: Final = (("id", "id"), ("context_id", "contextId"), ("status", "status"),
                      ("artifacts", "artifacts"), ("history", "history"),
                      ("metadata", "metadata"))
"""Task's fields and their ProtoJSON names, in field-number order (MessageToDict's)."""
_SHAREABLE: Final = tuple((f.name, f.json_name) for f in Task.DESCRIPTOR.fields) == _ROW_FIELDS
"""Whether a row holds every field of this a2a-sdk's Task (else :func:`task_dict` declines)."""


def task_dict(task: Task, columns: dict[str, Any]) -> dict[str, Any] | None:
    """``MessageToDict(task)`` built from the dicts :func:`task_columns` made for
    ``task`` (the same objects, not copies: neither side mutates them), so a durable
    reply does not convert its task a second time. Equal to ``MessageToDict(task)``,
    keys in its order; None when ``Task`` has a field a row does not hold."""
    if not _SHAREABLE:
        return None
    out: dict[str, Any] = {}
    if task.id:
        out["id"] = task.id
    if task.context_id:
        out["contextId"] = task.context_id
    if task.HasField("status"):
        out["status"] = columns["status"]
    if task.artifacts:
        out["artifacts"] = columns["artifacts"]
    if task.history:
        out["history"] = columns["history"]
    if task.HasField("metadata"):  # present and empty: ``{}``, where the row holds None
        out["metadata"] = columns["metadata"] or {}
    return out


def tail_columns(write: Write) -> dict[str, Any]:
    """:func:`task_columns` of the task ``write`` leaves (a chain's last write), kept on
    it for :func:`task_dict` (on the writer's thread, before its ``done`` resolves)."""
    write.columns = columns = task_columns(write.task, write.owner)
    return columns


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
    columns: dict[str, Any] | None = None
    """The task row's columns once a writer converted them (:func:`tail_columns`)."""
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


def chains(batch: Sequence[Write]) -> builtins.list[builtins.list[int]]:
    """The batch's writes (indexes, queue order) grouped into chains: consecutive writes
    of one task where each builds on the version the one before it makes, every write
    but the last committed behind (its caller did not wait, so the next write of the
    task could be queued at once). A turn's SUBMITTED, WORKING and COMPLETED writes
    usually arrive in one batch as one chain; applied as one unit they cost one version
    move and one task row, not three. A write that does not continue its task's chain
    starts a new one (applied in a later round)."""
    open_: dict[tuple[str, str], builtins.list[int]] = {}
    out: builtins.list[builtins.list[int]] = []
    for i, write in enumerate(batch):
        key = (write.owner, write.task.id)
        chain = open_.get(key)
        if chain is not None:
            last = batch[chain[-1]]
            if (last.behind and not write.prev_version.is_missing
                    and write.prev_version == TaskVersion(next_version(last.prev_version))):
                chain.append(i)
                continue
        chain = [i]
        open_[key] = chain
        out.append(chain)
    return out


async def apply_batch(conn: AsyncConnection, batch: Sequence[Write], lost: Lost
                      ) -> builtins.list[TaskVersion | Exception]:
    """The batch's statements in one transaction, a few per batch rather than three per
    write: the version rows (one insert for all first writes, one compare-and-swap
    update per chain length for the others, each returning the tasks it moved), then
    the task rows (one executemany upsert, the last state of each chain) and the event
    rows (one executemany insert, every write's). A chain (:func:`chains`) moves its
    task's version by its length at once, as its writes one after another would have.
    A lost version check writes nothing for the chain and is the outcome of each of its
    writes (each later one built on a version that never was). A task with two chains
    in one batch (only a stray concurrent writer does that) has the later one applied
    in a later round, after the first."""
    dialect = conn.dialect.name
    outcomes: Outcomes = [None] * len(batch)
    pending = chains(batch)
    while pending:
        now, pending = plan_round(batch, pending, lost, outcomes)
        moved = await _move_versions(conn, dialect, [(batch[c[0]], len(c)) for c in now])
        rows, events = [], []
        for chain in settle_round(batch, now, moved, lost, outcomes):
            row, logged = unit_rows(batch, chain)
            rows.append(row)
            events.extend(logged)
        if rows:
            await conn.execute(upsert(dialect, TaskModel.__table__, key=("id",)), rows)
        if events:
            await conn.execute(insert(TaskEventModel), events)
    return finished(outcomes)


Outcomes = builtins.list[TaskVersion | Exception | None]
"""Each write's outcome by batch index while a batch is applied (None: not yet)."""


def plan_round(batch: Sequence[Write], pending: Sequence[builtins.list[int]], lost: Lost,
               outcomes: Outcomes
               ) -> tuple[builtins.list[builtins.list[int]], builtins.list[builtins.list[int]]]:
    """The chains to apply in this round (one per task; a chain built on a lost version
    is lost here, outcome set) and those left for a later round."""
    seen: set[tuple[str, str]] = set()
    now: builtins.list[builtins.list[int]] = []
    later: builtins.list[builtins.list[int]] = []
    for chain in pending:
        first = batch[chain[0]]
        key = (first.task.id, first.owner)
        (later if key in seen else now).append(chain)
        seen.add(key)
    for chain in now:
        if builds_on_lost(lost, batch[chain[0]]):
            for i in chain:
                lose(lost, batch[i])
                outcomes[i] = ConcurrentTaskModificationError(batch[i].task.id)
    return [c for c in now if outcomes[c[0]] is None], later


def settle_round(batch: Sequence[Write], now: Sequence[builtins.list[int]],
                 moved: set[tuple[str, str]], lost: Lost, outcomes: Outcomes
                 ) -> builtins.list[builtins.list[int]]:
    """Each write's outcome once the round's version rows moved (``moved``: the (task,
    owner) pairs whose check passed): its new version, or lost; the chains that moved."""
    applied = []
    for chain in now:
        head = batch[chain[0]]
        if (head.task.id, head.owner) not in moved:
            for i in chain:
                lose(lost, batch[i])
                outcomes[i] = ConcurrentTaskModificationError(batch[i].task.id)
            continue
        lost.pop((head.owner, head.task.id), None)
        version = next_version(head.prev_version)
        for offset, i in enumerate(chain):
            outcomes[i] = TaskVersion(version + offset)
        applied.append(chain)
    return applied


def unit_rows(batch: Sequence[Write], chain: Sequence[int]
              ) -> tuple[dict[str, Any], builtins.list[dict[str, Any]]]:
    """A chain's rows once it moved: the task row (its last state) and an event row per
    write that carries an event, each with the version that write makes."""
    tail = batch[chain[-1]]
    return (tail_columns(tail),
            event_rows(batch, chain, lambda i: event_data(batch[i])))


def event_rows(batch: Sequence[Write], chain: Sequence[int], data: Callable[[int], bytes]
               ) -> builtins.list[dict[str, Any]]:
    """A moved chain's event rows: one per write that carries an event, with the version
    that write makes and its payload ``data(index)`` (:func:`event_data`)."""
    first = next_version(batch[chain[0]].prev_version)
    return [{"task_id": batch[i].task.id, "owner": batch[i].owner,
             "task_version": first + offset, "event_data": data(i)}
            for offset, i in enumerate(chain) if batch[i].event is not None]


def event_data(write: Write) -> bytes:
    """The ``event_data`` of ``write``'s event row (it must carry an event)."""
    return to_stream_response(write.event).SerializeToString()


def finished(outcomes: Outcomes) -> builtins.list[TaskVersion | Exception]:
    return [o if o is not None else RuntimeError("write not applied") for o in outcomes]


async def _move_versions(conn: AsyncConnection, dialect: str,
                         units: Sequence[tuple[Write, int]]) -> set[tuple[str, str]]:
    """Advance each unit's version row by its chain length if it still holds the version
    the unit's first write was derived from (a first write: if there is none); the
    (task, owner) pairs moved."""
    table: Table = TaskVersionModel.__table__  # type: ignore[assignment]  # a Table
    moved: set[tuple[str, str]] = set()
    firsts = [(w, n) for w, n in units if w.prev_version.is_missing]
    if firsts:
        stmt = insert_absent(dialect, table).returning(table.c.task_id, table.c.owner)
        result = await conn.execute(stmt, [
            {"task_id": w.task.id, "owner": w.owner, "version": n} for w, n in firsts])
        moved.update((r.task_id, r.owner) for r in result)
    by_length: dict[int, builtins.list[Write]] = {}
    for w, n in units:
        if not w.prev_version.is_missing:
            by_length.setdefault(n, []).append(w)
    for n, others in by_length.items():
        stmt = (update(table)
                .where(or_(*(and_(table.c.task_id == w.task.id, table.c.owner == w.owner,
                                  table.c.version == version_int(w.prev_version))
                             for w in others)))
                .values(version=table.c.version + n)
                .returning(table.c.task_id, table.c.owner))
        moved.update((r.task_id, r.owner) for r in await conn.execute(stmt))
    return moved


def next_version(prev: TaskVersion) -> int:
    return 1 if prev.is_missing else version_int(prev) + 1


def version_int(version: TaskVersion) -> int:
    """The write counter a database-store version wraps, read from its documented
    ``repr`` (``TaskVersion(3)``): the class offers no public accessor."""
    text = repr(version)
    if not (text.startswith("TaskVersion(") and text.endswith(")")):
        raise TypeError(f"not a database task version: {text}")
    return int(text[len("TaskVersion("):-1])
