"""In-flight claims and releases in the group commit, and the read a claim makes.

Per request, a database store used to run three statements of its own outside the
task writes, each in its own autocommit transaction on a pooled connection: the
in-flight claim (an ``INSERT``), the dispatcher's read of the task it just claimed
(a ``SELECT``), and the release after the reply (a ``DELETE``). Here they join the
store's writer (:class:`~a2a_mqtt.server.groupcommit.GroupCommitStore`): every claim
and release queued while a commit runs goes into the next transaction, together with
the task writes, and the transaction reads the claimed tasks' rows as well, so the
dispatcher's read right after its claim is answered from what the claim's own
transaction read (:meth:`GroupCommitStore.get`), not by another statement.

Rules kept from :class:`~a2a_mqtt.server.inflight.DatabaseInflightLog`: a claim
returns only after its row committed (the request is acknowledged to the broker
after that); two claims of one task never both win (the first in queue order
tries, later ones in the same batch lose, and ``ON CONFLICT DO NOTHING`` decides
against rows already there). A release does not wait for its commit: the reply is
out already, and an entry a crash leaves behind is found by recovery, which sees
the task terminal and leaves its outcome as it is (the same as a release that
fails). A release is queued before any later claim of the same task, and a batch
applies its releases before its claims.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from a2a.server.cluster import StoredTask, TaskVersion
from a2a.server.models import TaskModel, TaskVersionModel
from sqlalchemy import String, and_, any_, bindparam, delete, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from a2a_mqtt.server.batchwrite import row_to_task
from a2a_mqtt.server.dbops import insert_absent, insert_new, retry_transient
from a2a_mqtt.server.inflight import (
    INFLIGHT_TABLE,
    DatabaseInflightLog,
    InflightEntry,
    InflightLog,
    claim_refusals,
    entry_values,
)

if TYPE_CHECKING:
    from a2a_mqtt.server.groupcommit import GroupCommitStore

__all__ = ["BatchedInflightLog", "Claim", "Reads", "Release", "apply_turns", "claim_alone",
           "claim_order", "claim_outcomes", "read_row", "release_alone"]

log = logging.getLogger("a2a_mqtt.server")

Reads = dict[str, dict[str, StoredTask]]
"""Task id -> owner -> the task as a claim's transaction read it (no owner: absent)."""

_RELEASE: Final = delete(INFLIGHT_TABLE).where(
    INFLIGHT_TABLE.c.task_id == bindparam("r_task"),
    INFLIGHT_TABLE.c.owner == bindparam("r_owner"))


@dataclass(slots=True)
class Claim:
    entry: InflightEntry
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(frozen=True, slots=True)
class Release:
    task_id: str
    owner: str


async def apply_turns(conn: AsyncConnection, claims: Sequence[Claim],
                      releases: Sequence[Release]) -> tuple[builtins.list[bool], Reads]:
    """Releases, then claims, then a read of the claimed tasks, in ``conn``'s
    transaction: each claim's outcome (queue order) and what the read found."""
    if releases:
        await conn.execute(_RELEASE, [{"r_task": r.task_id, "r_owner": r.owner}
                                      for r in releases])
    if not claims:
        return [], {}
    trying = claim_order(claims)
    table = INFLIGHT_TABLE
    stmt = insert_absent(conn.dialect.name, table).returning(table.c.task_id)
    won = {r.task_id for r in await conn.execute(
        stmt, [entry_values(claims[i].entry) for i in trying.values()])}
    return claim_outcomes(claims, trying, won), await _read(conn, sorted(won)) if won else {}


def claim_order(claims: Sequence[Claim]) -> dict[str, int]:
    """Task id -> the index of the claim that tries it: the first in queue order (later
    copies in the same batch lose)."""
    trying: dict[str, int] = {}
    for i, claim in enumerate(claims):
        trying.setdefault(claim.entry.task_id, i)
    return trying


def claim_outcomes(claims: Sequence[Claim], trying: dict[str, int],
                   won: set[str]) -> builtins.list[bool]:
    """Each claim's outcome (queue order), given the task ids whose rows were inserted."""
    return [claim.entry.task_id in won and trying[claim.entry.task_id] == i
            for i, claim in enumerate(claims)]


async def claim_alone(engine: AsyncEngine, claim: Claim) -> bool:
    """``claim`` in a statement of its own on ``engine`` (autocommit), after a failed batch."""
    values = entry_values(claim.entry)

    async def once() -> bool:
        async with engine.connect() as conn:
            return await insert_new(conn, INFLIGHT_TABLE, values)

    return await retry_transient(once, what="in-flight claim")


async def release_alone(engine: AsyncEngine, release: Release) -> None:
    """``release`` in a statement of its own on ``engine`` (autocommit); a failure is
    logged: the reply is out, and recovery finds the task terminal and leaves it."""
    async def once() -> None:
        async with engine.connect() as conn:
            await conn.execute(_RELEASE, {"r_task": release.task_id, "r_owner": release.owner})

    try:
        await retry_transient(once, what="in-flight release")
    except Exception:
        log.exception("could not release the in-flight entry of task %s", release.task_id)


async def _read(conn: AsyncConnection, task_ids: Sequence[str]) -> Reads:
    """The stored rows of ``task_ids`` (every owner), protocol-1.0 rows only: a task
    with an older row is left out, and its reader asks the database itself."""
    tasks = TaskModel.__table__
    stmt = (select(tasks, TaskVersionModel.version)
            .outerjoin(TaskVersionModel.__table__,
                       and_(TaskVersionModel.task_id == tasks.c.id,
                            TaskVersionModel.owner == tasks.c.owner)))
    if conn.dialect.name == "postgresql":
        # One array parameter: one prepared statement whatever the batch's size (an IN
        # list is a new statement, prepared and planned anew, for every count).
        stmt = stmt.where(tasks.c.id == any_(bindparam("ids", type_=ARRAY(String))))
        params: dict[str, Any] = {"ids": builtins.list(task_ids)}
    else:
        stmt = stmt.where(tasks.c.id.in_(task_ids))
        params = {}
    reads: Reads = {task_id: {} for task_id in task_ids}
    for row in await conn.execute(stmt, params):
        read_row(reads, row)
    return reads


def read_row(reads: Reads, row: Any) -> None:
    """Add one joined task/version row to ``reads`` (SQLite's reader too): a task stored by
    another protocol version is no task of ours."""
    if row.protocol_version != "1.0":
        reads.pop(row.id, None)
        return
    if row.id in reads:
        version = (TaskVersion(row.version) if row.version is not None
                   else TaskVersion.MISSING)
        reads[row.id][row.owner] = StoredTask(row_to_task(row), version)


class BatchedInflightLog(InflightLog):
    """The durable in-flight log with claims and releases in the store's group commit
    (see the module docstring); recovery (``take``) goes to the table directly."""

    def __init__(self, log: DatabaseInflightLog, store: GroupCommitStore) -> None:
        self._log = log
        self._store = store

    async def claim(self, entry: InflightEntry) -> bool:
        with claim_refusals(entry.task_id):
            return await self._store.claim(entry)

    async def release(self, task_id: str, owner: str) -> None:
        self._store.release(task_id, owner)

    async def take(self, owner: str, *, except_run: str = "") -> builtins.list[InflightEntry]:
        return await self._log.take(owner, except_run=except_run)
