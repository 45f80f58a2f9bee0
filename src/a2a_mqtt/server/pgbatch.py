"""A whole group commit as one PostgreSQL statement: one round trip per batch.

The general batch (:func:`~a2a_mqtt.server.turnbatch.apply_turns` then
:func:`~a2a_mqtt.server.batchwrite.apply_batch`) runs its statements one after
another in a transaction: BEGIN, the releases' ``DELETE``, the claims' ``INSERT``, the
read of the claimed tasks, the first writes' version ``INSERT``, the compare-and-swap
``UPDATE``, the task upsert, the event ``INSERT``, COMMIT: about eight round trips to
the server per batch, and (the row counts differ from batch to batch) statements whose
text changes, so asyncpg prepares them anew. With client, broker, agent and database
on two cores, each round trip is a wake-up of another process that waits for a core,
and a request waits on two batches (its claim, then its turn-ending write).

On PostgreSQL the same work is one statement of data-modifying CTEs, each fed by
``unnest`` over array parameters (one statement text whatever the batch's size,
prepared once per connection), run on an autocommit connection (a single statement
is its own transaction: one commit, as before):

* ``released``: ``DELETE … USING unnest(…)``;
* ``claimed``: ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING``;
* ``firsts`` / ``cas``: the version rows (insert if absent; compare-and-swap update),
  their ``RETURNING`` rows together are ``moved``;
* ``written`` / ``logged``: the task upsert and the event insert, joined to ``moved``
  (a chain whose version check failed writes nothing), events in queue order;
* the result: one row per won claim with the claimed task as it was stored (the
  statement's snapshot: before this batch's writes, as the general path reads it), and
  one row per moved version.

Every sub-statement sees the same snapshot, so a release and a claim of the same task,
or two chains of one task (a later round), cannot share the statement: such a batch
takes the general path in a transaction (:func:`fits`). Outcomes are decided by the
same functions as on the general path (:func:`~a2a_mqtt.server.batchwrite.plan_round`,
:func:`~a2a_mqtt.server.batchwrite.settle_round`), and the rows written are the same.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, Final

from a2a.server.cluster import StoredTask, TaskVersion
from a2a.server.models import TaskEventModel, TaskModel, TaskVersionModel
from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    column,
    delete,
    func,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from a2a_mqtt.server.batchwrite import (
    Lost,
    Outcomes,
    Write,
    chains,
    finished,
    plan_round,
    row_to_task,
    settle_round,
    unit_rows,
    version_int,
)
from a2a_mqtt.server.inflight import INFLIGHT_TABLE, entry_values
from a2a_mqtt.server.turnbatch import Claim, Reads, Release, claim_order, claim_outcomes

__all__ = ["apply_all", "fits"]

_TASKS: Final[Table] = TaskModel.__table__  # type: ignore[assignment]  # a Table
_VERSIONS: Final[Table] = TaskVersionModel.__table__  # type: ignore[assignment]
_EVENTS: Final[Table] = TaskEventModel.__table__  # type: ignore[assignment]
_JSON_COLUMNS: Final = tuple(c.name for c in _TASKS.columns if isinstance(c.type, JSON))
_EVENT_COLUMNS: Final = ("task_id", "owner", "task_version", "event_data")
_READ_COLUMNS: Final = ("id", "context_id", "owner", "status", "artifacts", "history",
                        "metadata", "protocol_version")


def fits(writes: Sequence[Write], claims: Sequence[Claim],
         releases: Sequence[Release]) -> bool:
    """Whether the batch can be one statement: no task both released and claimed in it,
    and at most one chain per task id (see the module docstring)."""
    released = {r.task_id for r in releases}
    if any(c.entry.task_id in released for c in claims):
        return False
    heads = [writes[c[0]].task.id for c in chains(writes)]  # the version row's key
    return len(heads) == len(set(heads))


async def apply_all(conn: AsyncConnection, writes: Sequence[Write], claims: Sequence[Claim],
                    releases: Sequence[Release], lost: Lost
                    ) -> tuple[builtins.list[TaskVersion | Exception], builtins.list[bool],
                               Reads]:
    """The batch (one that :func:`fits`) as one statement on ``conn`` (autocommit): each
    write's outcome, each claim's (queue order), and what the claims' read found."""
    outcomes: Outcomes = [None] * len(writes)
    now, later = plan_round(writes, chains(writes), lost, outcomes)
    if later:
        raise ValueError("a batch with two chains of one task does not fit one statement")
    trying = claim_order(claims)
    params = _params(conn, writes, now, [claims[i] for i in trying.values()], releases)
    won: set[str] = set()
    moved: set[tuple[str, str]] = set()
    reads: Reads = {}
    turns, some = bool(claims or releases), bool(writes)
    for row in await conn.execute(_statement(turns, some), params):
        if row.kind == "m":
            moved.add((row.task_id, row.owner))
            continue
        won.add(row.task_id)
        found = reads.setdefault(row.task_id, {})
        if row.id is None:
            continue
        if row.protocol_version != "1.0":  # its reader asks the database itself
            reads.pop(row.task_id, None)
            continue
        version = TaskVersion(row.version) if row.version is not None else TaskVersion.MISSING
        found[row.owner] = StoredTask(row_to_task(row), version)
    settle_round(writes, now, moved, lost, outcomes)
    return finished(outcomes), claim_outcomes(claims, trying, won), reads


def _params(conn: AsyncConnection, writes: Sequence[Write], now: Sequence[list[int]],
            claims: Sequence[Claim], releases: Sequence[Release]) -> dict[str, Any]:
    """The statement's array parameters, one array per column."""
    params: dict[str, Any] = {
        "rel_task_id": [r.task_id for r in releases],
        "rel_owner": [r.owner for r in releases]}
    entries = [entry_values(c.entry) for c in claims]
    for col in INFLIGHT_TABLE.columns:
        params[f"cl_{col.name}"] = [e[col.name] for e in entries]
    firsts = [c for c in now if writes[c[0]].prev_version.is_missing]
    others = [c for c in now if not writes[c[0]].prev_version.is_missing]
    params |= {"fv_task_id": [writes[c[0]].task.id for c in firsts],
               "fv_owner": [writes[c[0]].owner for c in firsts],
               "fv_n": [len(c) for c in firsts],
               "cv_task_id": [writes[c[0]].task.id for c in others],
               "cv_owner": [writes[c[0]].owner for c in others],
               "cv_prev": [version_int(writes[c[0]].prev_version) for c in others],
               "cv_n": [len(c) for c in others]}
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for chain in now:  # most chains move: their rows are built before the statement
        row, logged = unit_rows(writes, chain)
        rows.append(row)
        events.extend(logged)
    # The JSON columns travel as text, serialised by the column's own type (the same
    # text an executemany of the row would send).
    for col in _TASKS.columns:
        values = [r[col.name] for r in rows]
        if col.name in _JSON_COLUMNS:
            process = col.type.bind_processor(conn.dialect)
            if process is not None:
                values = [process(v) for v in values]
        params[f"t_{col.name}"] = values
    for name in _EVENT_COLUMNS:
        params[f"e_{name}"] = [e[name] for e in events]
    params["e_ord"] = list(range(len(events)))
    return params


def _unnest(prefix: str, name: str, columns: Sequence[tuple[str, Any]]) -> Any:
    """``unnest(:prefix_a, :prefix_b, …) AS name(a, b, …)``: one array parameter per
    column, typed so asyncpg encodes it."""
    arrays = [bindparam(f"{prefix}_{col}", type_=ARRAY(type_)) for col, type_ in columns]
    return (func.unnest(*arrays)
            .table_valued(*(column(col, type_) for col, type_ in columns))
            .render_derived(name=name))


def _build(turns: bool, writes: bool) -> Any:
    """The statement for a batch with in-flight ``turns`` (claims, releases) and/or task
    ``writes``; a part the batch lacks is left out (the in-flight table need not exist
    for a store used without the in-flight log)."""
    parts: list[Any] = []
    reads = moved = None
    if turns:
        released, claimed = _turns()
        parts.append(released)
        # The claims' read first: its columns' types decode the result (JSON parsed).
        reads = (select(literal_column("'c'").label("kind"), claimed.c.task_id.label("task_id"),
                        *(_TASKS.c[n].label(n) for n in _READ_COLUMNS),
                        _VERSIONS.c.version.label("version"))
                 .select_from(claimed.outerjoin(_TASKS, _TASKS.c.id == claimed.c.task_id)
                              .outerjoin(_VERSIONS,
                                         and_(_VERSIONS.c.task_id == _TASKS.c.id,
                                              _VERSIONS.c.owner == _TASKS.c.owner))))
    if writes:
        moved, written, logged = _writes()
        parts += [written, logged]
        nothing = {n: null() for n in _READ_COLUMNS}
        nothing["owner"] = moved.c.owner
        moved = select(literal_column("'m'").label("kind"), moved.c.task_id.label("task_id"),
                       *(nothing[n].label(n) for n in _READ_COLUMNS), null().label("version"))
    if reads is not None and moved is not None:
        return union_all(reads, moved).add_cte(*parts)
    only = reads if reads is not None else moved
    if only is None:
        raise ValueError("a batch with neither turns nor writes")
    return only.add_cte(*parts)


def _turns() -> tuple[Any, Any]:
    """The releases' ``DELETE`` and the claims' ``INSERT … RETURNING`` as CTEs."""
    inflight = INFLIGHT_TABLE
    rel = _unnest("rel", "rel", [("task_id", String), ("owner", String)])
    released = (delete(inflight)
                .where(inflight.c.task_id == rel.c.task_id, inflight.c.owner == rel.c.owner)
                .returning(inflight.c.task_id).cte("released"))
    cl = _unnest("cl", "cl", [(c.name, c.type) for c in inflight.columns])
    claimed = (pg_insert(inflight)
               .from_select([c.name for c in inflight.columns],
                            select(*(cl.c[c.name] for c in inflight.columns)))
               .on_conflict_do_nothing()
               .returning(inflight.c.task_id).cte("claimed"))
    return released, claimed


def _writes() -> tuple[Any, Any, Any]:
    """The version moves (``moved``: the pairs that passed), the task upsert and the
    event insert of the chains that moved, as CTEs."""
    fv = _unnest("fv", "fv", [("task_id", String), ("owner", String), ("n", BigInteger)])
    firsts = (pg_insert(_VERSIONS)
              .from_select(["task_id", "owner", "version"],
                           select(fv.c.task_id, fv.c.owner, fv.c.n))
              .on_conflict_do_nothing()
              .returning(_VERSIONS.c.task_id, _VERSIONS.c.owner).cte("firsts"))
    cv = _unnest("cv", "cv", [("task_id", String), ("owner", String), ("prev", BigInteger),
                              ("n", BigInteger)])
    cas = (update(_VERSIONS)
           .where(_VERSIONS.c.task_id == cv.c.task_id, _VERSIONS.c.owner == cv.c.owner,
                  _VERSIONS.c.version == cv.c.prev)
           .values(version=_VERSIONS.c.version + cv.c.n)
           .returning(_VERSIONS.c.task_id, _VERSIONS.c.owner).cte("cas"))
    moved = union_all(select(firsts.c.task_id, firsts.c.owner),
                      select(cas.c.task_id, cas.c.owner)).cte("moved")
    tr = _unnest("t", "tr", [(c.name, Text if c.name in _JSON_COLUMNS else c.type)
                             for c in _TASKS.columns])
    rows = (select(*(cast(tr.c[c.name], JSON) if c.name in _JSON_COLUMNS else tr.c[c.name]
                     for c in _TASKS.columns))
            .join_from(tr, moved, and_(moved.c.task_id == tr.c.id,
                                       moved.c.owner == tr.c.owner)))
    upsert = pg_insert(_TASKS).from_select([c.name for c in _TASKS.columns], rows)
    written = (upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={c.name: upsert.excluded[c.name] for c in _TASKS.columns if c.name != "id"})
        .returning(_TASKS.c.id).cte("written"))
    ev = _unnest("e", "ev", [("task_id", String), ("owner", String),
                             ("task_version", BigInteger),
                             ("event_data", _EVENTS.c.event_data.type), ("ord", Integer)])
    logged = (pg_insert(_EVENTS)
              .from_select(list(_EVENT_COLUMNS), select(*(ev.c[n] for n in _EVENT_COLUMNS))
                           .join_from(ev, moved, and_(moved.c.task_id == ev.c.task_id,
                                                      moved.c.owner == ev.c.owner))
                           .order_by(ev.c.ord))  # seq in queue order
              .returning(_EVENTS.c.seq).cte("logged"))
    return moved, written, logged


_STATEMENTS: dict[tuple[bool, bool], Any] = {}


def _statement(turns: bool, writes: bool) -> Any:
    """The statement, built once per shape (SQLAlchemy caches its compiled form)."""
    stmt = _STATEMENTS.get((turns, writes))
    if stmt is None:
        stmt = _STATEMENTS[turns, writes] = _build(turns, writes)
    return stmt
