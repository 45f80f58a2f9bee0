"""A whole group commit on a SQLite file as DB-API statements, compiled once.

The general batch (:func:`~a2a_mqtt.server.turnbatch.apply_turns`, then
:func:`~a2a_mqtt.server.batchwrite.apply_batch`) is written against SQLAlchemy Core:
every statement is looked up in the compiled cache by a key built from its expression
(the version compare-and-swap and the claims' read are expressions rebuilt for every
batch), and every row goes through the execution context's parameter processing. On
the SQLite writer's thread (:mod:`~a2a_mqtt.server.sqlitewriter`) that work held the
GIL the event loop needs: py-spy of the agent at 100 in flight (docs/performance.md,
stores "Round 4") had SQLAlchemy's ``execute`` at 13.5 % of the agent's samples, of
which SQLite's own work was 7.7.

Here the same statements are compiled once per shape from the same Core constructs
(so the SQL names the a2a-sdk tables exactly as its store does) and run with
``exec_driver_sql``: plain tuples straight to ``sqlite3``, in the compiled statement's
parameter order, each value converted by its column type's own bind processor (the
JSON text, the ``DATETIME`` string, the blob: what Core would send, byte for byte;
``tests/behaviour/server/test_group_commit.py`` compares the tables with a2a-sdk's
store). ``exec_driver_sql`` keeps SQLAlchemy's error wrapping (``DBAPIError``: the
group commit's retries and fallback) and its statement events (tests count them).

A batch's statements, in its transaction: the releases' ``DELETE`` (executemany), the
claims' ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (one multi-row statement: an
executemany returns no rows), the read of the claimed tasks (``IN`` list), then per
round the first writes' version ``INSERT … RETURNING``, the compare-and-swap
``UPDATE … RETURNING`` per chain length, the task upsert and the event insert
(executemany each). Outcomes are decided by the functions both other paths use
(:func:`~a2a_mqtt.server.batchwrite.plan_round`, ``settle_round``, ``event_rows``,
:func:`~a2a_mqtt.server.turnbatch.claim_outcomes`). The rows' values that read
nothing from the database (each chain's task row, each event's payload) are made
before the transaction by :func:`prepare`, outside the file's writer lock.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any, Final

from a2a.server.cluster import TaskVersion
from a2a.server.models import TaskEventModel, TaskModel, TaskVersionModel
from sqlalchemy import Column, Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect

from a2a_mqtt.server.batchwrite import (
    Lost,
    Outcomes,
    Write,
    chains,
    event_data,
    event_rows,
    finished,
    plan_round,
    settle_round,
    tail_columns,
    version_int,
)
from a2a_mqtt.server.dbops import insert_absent
from a2a_mqtt.server.inflight import INFLIGHT_TABLE, entry_values
from a2a_mqtt.server.turnbatch import (
    Claim,
    Reads,
    Release,
    claim_order,
    claim_outcomes,
    read_row,
)

__all__ = ["Prepared", "Result", "apply_all", "prepare"]

Result = tuple[Sequence[TaskVersion | Exception], Lost, Sequence[bool], Reads]

_TASKS: Final[Table] = TaskModel.__table__  # type: ignore[assignment]  # a Table
_VERSIONS: Final[Table] = TaskVersionModel.__table__  # type: ignore[assignment]
_EVENTS: Final[Table] = TaskEventModel.__table__  # type: ignore[assignment]
_TASK_COLUMNS: Final = tuple(c.name for c in _TASKS.columns)
_EVENT_COLUMNS: Final = ("task_id", "owner", "task_version", "event_data")
_MAX_PARAMS: Final = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
"""Bound parameters one SQLite statement may have (SQLITE_MAX_VARIABLE_NUMBER's default)."""

Slot = tuple[int, str, Callable[[Any], Any] | None]


@dataclass(frozen=True, slots=True)
class _Sql:
    """A statement compiled for the dialect: its text and, per ``?`` in order, where its
    value comes from (which row of a multi-row statement, which key) and the bind
    processor of the column it is compared with or written to."""

    text: str
    slots: tuple[Slot, ...]

    def params(self, rows: Sequence[dict[str, Any]]) -> tuple[Any, ...]:
        """The parameters for ``rows`` (one dict per row, by key)."""
        return tuple(rows[i][key] if proc is None else proc(rows[i][key])
                     for i, key, proc in self.slots)


_CACHE: dict[tuple[Any, ...], _Sql] = {}
"""Compiled statements by dialect name and shape (multi-row ones: per row count, at most
``MAX_BATCH`` of each)."""


def _compiled(key: tuple[Any, ...], dialect: Dialect, build: Callable[[], Any],
              names: Callable[[str], tuple[int, str, Column[Any]]],
              column_keys: Sequence[str] | None = None) -> _Sql:
    """The statement ``build()`` makes, compiled once per ``key``; ``names`` maps a bound
    parameter's name to (row, key, the column whose type converts its value)."""
    cached = _CACHE.get((dialect.name, *key))
    if cached is not None:
        return cached
    compiled = build().compile(dialect=dialect, column_keys=column_keys)
    order = compiled.positiontup
    if order is None:
        raise TypeError(f"dialect {dialect.name} does not use positional parameters")
    slots: list[Slot] = []
    for name in order:
        row, where, column = names(name)
        slots.append((row, where, column.type.dialect_impl(dialect).bind_processor(dialect)))
    sql = _CACHE[(dialect.name, *key)] = _Sql(compiled.string, tuple(slots))
    return sql


def _numbered(table: Table) -> Callable[[str], tuple[int, str, Column[Any]]]:
    """Parameter names ``<column>_<row>`` of ``table``."""
    def where(name: str) -> tuple[int, str, Column[Any]]:
        column, _, row = name.rpartition("_")
        return int(row), column, table.c[column]
    return where


def _chunks(rows: Sequence[Any], columns: int) -> builtins.list[Sequence[Any]]:
    """``rows`` in as few statements as SQLite's parameter limit allows."""
    size = max(1, _MAX_PARAMS // columns)
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _insert_returning(conn: Connection, name: str, rows: Sequence[dict[str, Any]],
                      build: Callable[[], Any], names: Callable[[str], tuple[int, str, Column[Any]]]
                      ) -> list[Any]:
    """``rows`` inserted unless their key is taken (``INSERT … VALUES (…), … ON CONFLICT
    DO NOTHING RETURNING``: an executemany returns no rows); the rows returned."""
    out: list[Any] = []
    for text, params in _rows(conn, name, rows, build, names):
        out.extend(conn.exec_driver_sql(text, params).all())
    return out


def _many(conn: Connection, name: str, rows: Sequence[dict[str, Any]],
          build: Callable[[], Any], names: Callable[[str], tuple[int, str, Column[Any]]]
          ) -> None:
    """``build()``'s one-row statement (compiled once) for each of ``rows``: one
    executemany. (One statement of many rows instead measured no cheaper: SQLite
    parses a new text per row count.)"""
    one = _compiled((name,), conn.dialect, build, names)
    conn.exec_driver_sql(one.text, [one.params((row,)) for row in rows])


def _rows(conn: Connection, name: str, rows: Sequence[dict[str, Any]],
          build: Callable[[], Any], names: Callable[[str], tuple[int, str, Column[Any]]]
          ) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements (text and parameters) for ``rows``: ``build()``'s one-row
    ``INSERT`` (compiled once) widened to the rows of each chunk."""
    one = _compiled((name,), conn.dialect, build, names)
    out = []
    for part in _chunks(rows, len(one.slots)):
        key = (conn.dialect.name, name, len(part))
        text = _WIDE.get(key)
        if text is None:
            text = _WIDE[key] = _widened(one.text, len(one.slots), len(part))
        out.append((text, tuple(v for row in part for v in one.params((row,)))))
    return out


_WIDE: dict[tuple[str, str, int], str] = {}
"""Statement texts widened to a row count, by dialect name, statement and count (at most
``MAX_BATCH`` per statement; strings only, nothing the garbage collector visits)."""


def _widened(text: str, width: int, n: int) -> str:
    """``text`` (an ``INSERT`` of one row of ``width`` parameters, all in its ``VALUES``
    group) with ``n`` ``VALUES`` groups. Built from the compiled text, not compiled
    anew per row count: SQLAlchemy takes milliseconds to compile a statement of a
    hundred rows, and a batch's row counts vary."""
    group = "(" + ", ".join("?" * width) + ")"
    if not (text.startswith("INSERT") and text.count(group) == 1 and text.count("?") == width):
        raise ValueError(f"cannot widen {text!r}")
    return text.replace(group, ", ".join([group] * n))


def _values(columns: Sequence[str]) -> dict[str, Any]:
    """One row's parameters, named ``<column>_0`` (see :func:`_numbered`)."""
    return {c: bindparam(f"{c}_0") for c in columns}


def _task_stmt() -> Any:
    """The task row's upsert: a2a-sdk's store writes it with ``merge`` (update if the id
    exists, else insert)."""
    stmt = sqlite_insert(_TASKS).values(_values(_TASK_COLUMNS))
    return stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={c: stmt.excluded[c] for c in _TASK_COLUMNS if c != "id"})


def _event_stmt() -> Any:
    """The event row's insert (an executemany numbers ``seq`` in row order)."""
    return insert(_EVENTS).values(_values(_EVENT_COLUMNS))


def _release_stmt() -> Any:
    inflight = INFLIGHT_TABLE
    return delete(inflight).where(inflight.c.task_id == bindparam("task_id_0"),
                                  inflight.c.owner == bindparam("owner_0"))


def _claim_stmt() -> Any:
    inflight = INFLIGHT_TABLE
    return (insert_absent("sqlite", inflight)
            .values(_values([c.name for c in inflight.columns]))
            .returning(inflight.c.task_id))


def _version_stmt() -> Any:
    return (insert_absent("sqlite", _VERSIONS)
            .values(_values(("task_id", "owner", "version")))
            .returning(_VERSIONS.c.task_id, _VERSIONS.c.owner))


@dataclass(frozen=True, slots=True)
class Prepared:
    """The parts of a batch's writes that depend on nothing the transaction reads: its
    chains, each chain's task row (as the task statement's parameters) and each event's
    payload, by write index. :func:`prepare` makes them on the writer's thread before it
    takes the file's writer lock (:meth:`~a2a_mqtt.server.sqlitewriter.SqliteWriter.prepared`):
    the conversions (``MessageToDict``, the JSON text, the event's serialization) were
    over half of the time a batch held the lock, during which every other process
    writing the file waits (docs/performance.md, ``--workers N``, session 16)."""

    chains: builtins.list[builtins.list[int]]
    tasks: dict[int, tuple[Any, ...]]
    events: dict[int, bytes]


def _task_sql(dialect: Dialect) -> _Sql:
    """The task upsert (one row), compiled once per dialect."""
    return _compiled(("task",), dialect, _task_stmt, _numbered(_TASKS))


def prepare(dialect: Dialect, writes: Sequence[Write]) -> Prepared:
    """``writes``' :class:`Prepared` rows for a connection of ``dialect``."""
    one = _task_sql(dialect)
    found = chains(writes)
    tails = [chain[-1] for chain in found]
    return Prepared(
        chains=found,
        tasks={i: one.params((tail_columns(writes[i]),)) for i in tails},
        events={i: event_data(w) for i, w in enumerate(writes) if w.event is not None})


def apply_all(conn: Connection, prepared: Prepared | None = None, *, writes: Sequence[Write],
              claims: Sequence[Claim], releases: Sequence[Release], lost: Lost) -> Result:
    """The batch in ``conn``'s transaction: each write's outcome, ``lost`` as it is
    after the batch, each claim's outcome (queue order), what the claims' read found.
    ``prepared``: :func:`prepare`'s rows for ``writes`` (None: made here)."""
    won, reads = _turns(conn, claims, releases)
    outcomes = _writes(conn, writes, lost, prepared) if writes else []
    return outcomes, lost, won, reads


def _turns(conn: Connection, claims: Sequence[Claim], releases: Sequence[Release]
           ) -> tuple[builtins.list[bool], Reads]:
    """Releases, then claims, then the read of the claimed tasks (as
    :func:`~a2a_mqtt.server.turnbatch.apply_turns`)."""
    if releases:
        _many(conn, "release",
              [{"task_id": r.task_id, "owner": r.owner} for r in releases],
              _release_stmt, _numbered(INFLIGHT_TABLE))
    if not claims:
        return [], {}
    trying = claim_order(claims)
    rows = [entry_values(claims[i].entry) for i in trying.values()]
    won = {r[0] for r in _insert_returning(conn, "claim", rows, _claim_stmt,
                                            _numbered(INFLIGHT_TABLE))}
    return claim_outcomes(claims, trying, won), _read(conn, sorted(won)) if won else {}


def _read(conn: Connection, task_ids: Sequence[str]) -> Reads:
    """The stored rows of ``task_ids`` (every owner), protocol-1.0 rows only: a task with
    an older row is left out, and its reader asks the database itself."""
    dialect = conn.dialect
    reads: Reads = {task_id: {} for task_id in task_ids}
    columns = [*(_TASKS.c[n] for n in _TASK_COLUMNS), _VERSIONS.c.version]
    decode = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    for part in _chunks(task_ids, 1):
        n = len(part)
        sql = _compiled(("read", n), dialect, partial(_read_stmt, columns, n),
                        _numbered(_TASKS))
        for raw in conn.exec_driver_sql(sql.text, sql.params([{"id": t} for t in part])):
            read_row(reads, SimpleNamespace(**{
                c.name: value if proc is None else proc(value)
                for c, proc, value in zip(columns, decode, raw, strict=True)}))
    return reads


def _read_stmt(columns: Sequence[Column[Any]], n: int) -> Any:
    return (select(*columns)
            .outerjoin(_VERSIONS, and_(_VERSIONS.c.task_id == _TASKS.c.id,
                                       _VERSIONS.c.owner == _TASKS.c.owner))
            .where(_TASKS.c.id.in_([bindparam(f"id_{i}") for i in range(n)])))


def _writes(conn: Connection, batch: Sequence[Write], lost: Lost, prepared: Prepared | None
            ) -> builtins.list[TaskVersion | Exception]:
    """The task writes (as :func:`~a2a_mqtt.server.batchwrite.apply_batch`): per round,
    the version rows, then one executemany of task rows and one of event rows."""
    ready = prepare(conn.dialect, batch) if prepared is None else prepared
    task_sql = _task_sql(conn.dialect)
    outcomes: Outcomes = [None] * len(batch)
    pending = ready.chains
    while pending:
        now, pending = plan_round(batch, pending, lost, outcomes)
        moved = _move_versions(conn, [(batch[c[0]], len(c)) for c in now])
        rows: list[tuple[Any, ...]] = []
        events: list[dict[str, Any]] = []
        for chain in settle_round(batch, now, moved, lost, outcomes):
            rows.append(ready.tasks[chain[-1]])
            events.extend(event_rows(batch, chain, ready.events.__getitem__))
        if rows:
            conn.exec_driver_sql(task_sql.text, rows)
        if events:
            _many(conn, "event", events, _event_stmt, _numbered(_EVENTS))
    return finished(outcomes)


def _move_versions(conn: Connection, units: Sequence[tuple[Write, int]]
                   ) -> set[tuple[str, str]]:
    """Advance each unit's version row by its chain length if it still holds the version
    the unit's first write was derived from (a first write: if there is none); the
    (task, owner) pairs moved (as :func:`~a2a_mqtt.server.batchwrite.apply_batch`)."""
    table = _VERSIONS
    moved: set[tuple[str, str]] = set()
    firsts = [{"task_id": w.task.id, "owner": w.owner, "version": n}
              for w, n in units if w.prev_version.is_missing]
    if firsts:
        moved.update((r[0], r[1]) for r in _insert_returning(
            conn, "version", firsts, _version_stmt, _numbered(table)))
    by_length: dict[int, list[dict[str, Any]]] = {}
    for w, n in units:
        if not w.prev_version.is_missing:
            by_length.setdefault(n, []).append(
                {"task_id": w.task.id, "owner": w.owner, "version": version_int(w.prev_version),
                 "n": n})
    for others in by_length.values():
        for part in _chunks(others, 3):
            k = len(part)
            sql = _compiled(("cas", k), conn.dialect, partial(_cas_stmt, k), _cas_names)
            moved.update((r[0], r[1]) for r in conn.exec_driver_sql(sql.text, sql.params(part)))
    return moved


def _cas_stmt(k: int) -> Any:
    """Compare-and-swap of ``k`` version rows by one chain length (``n_0``)."""
    table = _VERSIONS
    return (update(table)
            .where(or_(*(and_(table.c.task_id == bindparam(f"task_id_{i}"),
                              table.c.owner == bindparam(f"owner_{i}"),
                              table.c.version == bindparam(f"version_{i}"))
                         for i in range(k))))
            .values(version=table.c.version + bindparam("n_0"))
            .returning(table.c.task_id, table.c.owner))


def _cas_names(name: str) -> tuple[int, str, Column[Any]]:
    if name == "n_0":  # the chain length: every row of the statement has the same
        return 0, "n", _VERSIONS.c.version
    return _numbered(_VERSIONS)(name)
