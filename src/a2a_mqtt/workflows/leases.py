"""Run ownership in the shared database: leases with fencing epochs (docs/workflows.md §4.3).

- ``create`` inserts a new run already owned by its creator (epoch 1).
- ``claim`` takes a run whose lease lapsed (or whose owner's Last Will was
  seen): one UPDATE that bumps the epoch, so exactly one claimant wins and
  every write of the previous owner is fenced off from then on.
- ``append`` (the owner's writes) locks the run row on ``(owner, epoch)`` and
  inserts the event in the same transaction: a stale owner writes nothing
  (:class:`Fenced`), and a position already taken (an input appended by
  another supervisor) raises :class:`SeqTaken` so the owner re-reads first.
- ``append_input`` (a caller's reply or cancel, taken by any supervisor) needs
  no lease: inputs are ordered by ``seq`` like everything else.
Times are wall-clock seconds (``time.time()``).

On PostgreSQL, ``create`` and ``append_many`` are each ONE statement (data-modifying
CTEs: the fencing ``UPDATE ... RETURNING`` feeds the ``INSERT``), sent without
BEGIN/COMMIT: a statement is atomic by itself, and a round trip to the database is
most of what a step costs a supervisor (docs/performance.md, Workflows). SQLite
keeps the explicit transaction (it has no DML in CTEs; its calls are in-process).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.server.dbops import autocommit, retry_transient
from a2a_mqtt.workflows.state import Event, RunState
from a2a_mqtt.workflows.store import encode_event, events, runs

__all__ = ["TERMINAL", "Fenced", "Leases", "ReplyTarget", "SeqTaken"]

TERMINAL = ("completed", "failed", "cancelled")

# PostgreSQL: a new run and its RunStarted, inserted together unless the run exists.
_CREATE_PG = text("""
WITH r AS (
  INSERT INTO workflow_run (run_id, workflow, version, started_at, context_id, status,
    owner, epoch, lease_until, reply_topic, reply_corr, reply_rid, reply_seq, updated_at)
  VALUES (:run_id, :workflow, :version, :started_at, :context_id, 'running', :owner, 1,
    :lease_until, :reply_topic, :reply_corr, :reply_rid, -1, :now)
  ON CONFLICT DO NOTHING RETURNING run_id)
INSERT INTO workflow_event (run_id, seq, kind, body)
SELECT r.run_id, 0, CAST(:kind AS varchar), CAST(:body AS text) FROM r
""")
# PostgreSQL: the owner's fenced write. The UPDATE locks the run row only at our
# (owner, epoch); the events are inserted only if it matched (0 rows: Fenced), and a
# position already taken fails the whole statement (SeqTaken). How far the stream got
# is saved only if it still goes to the same request (NULL topic: not saved).
_APPEND_PG = text("""
WITH locked AS (
  UPDATE workflow_run SET status = :status, error = :error, updated_at = :now,
    reply_seq = CASE WHEN reply_topic = :reply_topic AND reply_rid = :reply_rid
                     THEN CAST(:streamed AS integer) ELSE reply_seq END
  WHERE run_id = :run_id AND owner = :owner AND epoch = :epoch
  RETURNING run_id)
INSERT INTO workflow_event (run_id, seq, kind, body)
SELECT locked.run_id, e.seq, e.kind, e.body FROM locked,
  unnest(CAST(:seqs AS integer[]), CAST(:kinds AS varchar[]), CAST(:bodies AS text[]))
    AS e(seq, kind, body)
""")


class Fenced(A2AMqttError):
    """This supervisor no longer owns the run (its epoch is stale): stop driving it."""


class SeqTaken(A2AMqttError):
    """Another writer appended at this position first: re-read the log, then decide again."""


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where the caller's current stream for a run goes (its request's reply routing)."""

    topic: str
    correlation: bytes | None
    request_id: str
    """The JSON-RPC id, JSON-encoded."""


class Leases:
    """Ownership and fenced writes for supervisor ``owner``."""

    def __init__(self, engine: AsyncEngine, *, owner: str, ttl: float) -> None:
        self.engine = engine
        self.single = autocommit(engine)
        self.pg = engine.dialect.name == "postgresql"
        self.owner = owner
        self.ttl = ttl

    async def create(self, state: RunState, *, context_id: str,
                     reply: ReplyTarget | None) -> bool:
        """Insert a new run owned by us at epoch 1; False if the run id exists."""
        kind, body = encode_event(state.events[0])
        now = time.time()
        if self.pg:
            params = {"run_id": state.run_id, "workflow": state.workflow.name,
                      "version": state.workflow.version, "started_at": state.started_at,
                      "context_id": context_id, "owner": self.owner,
                      "lease_until": now + self.ttl, "now": now,
                      "reply_topic": reply.topic if reply else None,
                      "reply_corr": reply.correlation if reply else None,
                      "reply_rid": reply.request_id if reply else None,
                      "kind": kind, "body": body}

            async def single() -> bool:
                async with self.single.connect() as conn:
                    return bool((await conn.execute(_CREATE_PG, params)).rowcount == 1)

            return await retry_transient(single, what="workflow run create")

        async def once() -> bool:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(runs.insert().values(
                        run_id=state.run_id, workflow=state.workflow.name,
                        version=state.workflow.version, started_at=state.started_at,
                        context_id=context_id, status="running", owner=self.owner, epoch=1,
                        lease_until=now + self.ttl, updated_at=now,
                        reply_topic=reply.topic if reply else None,
                        reply_corr=reply.correlation if reply else None,
                        reply_rid=reply.request_id if reply else None, reply_seq=-1))
                    await conn.execute(events.insert().values(
                        run_id=state.run_id, seq=0, kind=kind, body=body))
            except IntegrityError:
                return False
            return True

        return await retry_transient(once, what="workflow run create")

    async def claimable(self, workflows: Iterable[str], dead: Iterable[str]) -> list[str]:
        """Unfinished runs of ``workflows`` whose lease lapsed or whose owner is dead
        (our own included: a run whose driver failed, or an earlier life of our id)."""
        now = time.time()
        dead = list(dead)
        lapsed = or_(runs.c.lease_until < now, runs.c.owner.in_(dead)) if dead else (
            runs.c.lease_until < now)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(runs.c.run_id).where(and_(
                runs.c.workflow.in_(list(workflows)), runs.c.status.not_in(TERMINAL),
                lapsed)).order_by(runs.c.started_at).limit(100))
            return [row.run_id for row in rows]

    async def claim(self, run_id: str, dead: Iterable[str]) -> int | None:
        """Take the run if its lease lapsed (or its owner is dead); the new epoch, or None."""
        now = time.time()
        dead = list(dead)
        lapsed = or_(runs.c.lease_until < now, runs.c.owner.in_(dead)) if dead else (
            runs.c.lease_until < now)

        async def once() -> int | None:
            async with self.engine.begin() as conn:
                result = await conn.execute(update(runs).where(and_(
                    runs.c.run_id == run_id, runs.c.status.not_in(TERMINAL), lapsed)).values(
                    owner=self.owner, epoch=runs.c.epoch + 1, lease_until=now + self.ttl,
                    updated_at=now))
                if result.rowcount != 1:
                    return None
                row = (await conn.execute(select(runs.c.epoch).where(
                    runs.c.run_id == run_id))).one()
                return int(row.epoch)

        return await retry_transient(once, what="workflow lease claim")

    async def renew(self, owned: dict[str, int]) -> list[str]:
        """Extend our leases; the run ids we no longer own (fenced by a takeover).

        One statement for all of them: the rows still ours at our epoch come back."""
        until = time.time() + self.ttl
        pairs = list(owned.items())
        kept: set[str] = set()
        async with self.single.connect() as conn:
            for start in range(0, len(pairs), 500):
                chunk = pairs[start:start + 500]
                rows = await conn.execute(update(runs).where(and_(
                    runs.c.owner == self.owner,
                    tuple_(runs.c.run_id, runs.c.epoch).in_(chunk))).values(
                    lease_until=until).returning(runs.c.run_id))
                kept.update(row.run_id for row in rows)
        return [run_id for run_id in owned if run_id not in kept]

    async def release(self, run_id: str, epoch: int) -> None:
        """Give the run up at once (a graceful stop): any supervisor may claim it now."""
        async with self.single.connect() as conn:
            await conn.execute(update(runs).where(and_(
                runs.c.run_id == run_id, runs.c.owner == self.owner,
                runs.c.epoch == epoch)).values(lease_until=0.0))

    async def append(self, run_id: str, epoch: int, seq: int, item: Event, *,
                     status: str, error: str | None) -> None:
        """The owner's write: fenced on (owner, epoch); raises Fenced or SeqTaken."""
        kind, body = encode_event(item)

        async def once() -> None:
            try:
                async with self.engine.begin() as conn:
                    locked = await conn.execute(update(runs).where(and_(
                        runs.c.run_id == run_id, runs.c.owner == self.owner,
                        runs.c.epoch == epoch)).values(status=status, error=error,
                                                       updated_at=time.time()))
                    if locked.rowcount != 1:
                        raise Fenced(f"run {run_id}: epoch {epoch} is no longer ours")
                    await conn.execute(events.insert().values(run_id=run_id, seq=seq,
                                                              kind=kind, body=body))
            except IntegrityError as exc:
                raise SeqTaken(f"run {run_id}: position {seq} taken") from exc

        await retry_transient(once, what="workflow event append")

    async def append_many(self, run_id: str, epoch: int, first: int, items: list[Event], *,
                          status: str, error: str | None, reply: ReplyTarget | None = None,
                          streamed: int | None = None) -> None:
        """The owner's writes at positions ``first``, ``first + 1``, ...: one transaction,
        fenced on (owner, epoch); raises Fenced or SeqTaken. With ``reply``/``streamed``,
        also records how far the stream to ``reply`` got (if it still goes there)."""
        rows = []
        for offset, item in enumerate(items):
            kind, body = encode_event(item)
            rows.append({"run_id": run_id, "seq": first + offset, "kind": kind, "body": body})
        if self.pg:
            await self._append_pg(run_id, epoch, rows, status=status, error=error,
                                  reply=reply if streamed is not None else None,
                                  streamed=streamed)
            return
        values: dict[str, Any] = {"status": status, "error": error, "updated_at": time.time()}
        if reply is not None and streamed is not None:
            same = and_(runs.c.reply_topic == reply.topic, runs.c.reply_rid == reply.request_id)
            values["reply_seq"] = case((same, streamed), else_=runs.c.reply_seq)

        async def once() -> None:
            try:
                async with self.engine.begin() as conn:
                    locked = await conn.execute(update(runs).where(and_(
                        runs.c.run_id == run_id, runs.c.owner == self.owner,
                        runs.c.epoch == epoch)).values(**values))
                    if locked.rowcount != 1:
                        raise Fenced(f"run {run_id}: epoch {epoch} is no longer ours")
                    await conn.execute(events.insert(), rows)
            except IntegrityError as exc:
                raise SeqTaken(f"run {run_id}: position taken") from exc

        await retry_transient(once, what="workflow event append")

    async def _append_pg(self, run_id: str, epoch: int, rows: list[dict[str, Any]], *,
                         status: str, error: str | None, reply: ReplyTarget | None,
                         streamed: int | None) -> None:
        params = {"run_id": run_id, "owner": self.owner, "epoch": epoch, "status": status,
                  "error": error, "now": time.time(), "streamed": streamed,
                  "reply_topic": reply.topic if reply else None,
                  "reply_rid": reply.request_id if reply else None,
                  "seqs": [r["seq"] for r in rows], "kinds": [r["kind"] for r in rows],
                  "bodies": [r["body"] for r in rows]}

        async def once() -> None:
            try:
                async with self.single.connect() as conn:
                    result = await conn.execute(_APPEND_PG, params)
            except IntegrityError as exc:
                raise SeqTaken(f"run {run_id}: position taken") from exc
            if result.rowcount != len(rows):
                raise Fenced(f"run {run_id}: epoch {epoch} is no longer ours")

        await retry_transient(once, what="workflow event append")

    async def append_input(self, run_id: str, item: Event) -> int:
        """A caller's input (reply, cancel): appended at the next position; its seq."""
        kind, body = encode_event(item)
        for _ in range(50):
            async def once() -> int | None:
                try:
                    async with self.engine.begin() as conn:
                        last = (await conn.execute(select(func.max(events.c.seq)).where(
                            events.c.run_id == run_id))).scalar()
                        seq = int(last if last is not None else -1) + 1
                        await conn.execute(events.insert().values(run_id=run_id, seq=seq,
                                                                  kind=kind, body=body))
                        return seq
                except IntegrityError:
                    return None

            seq = await retry_transient(once, what="workflow input append")
            if seq is not None:
                return seq
        raise SeqTaken(f"run {run_id}: could not append the input")

    async def set_reply(self, run_id: str, target: ReplyTarget | None, *,
                        streamed: int | None = None) -> None:
        """Point the run's stream at ``target`` (None: no stream open), from ``streamed``."""
        values: dict[str, Any] = {
            "reply_topic": target.topic if target else None,
            "reply_corr": target.correlation if target else None,
            "reply_rid": target.request_id if target else None}
        if streamed is not None:
            values["reply_seq"] = streamed
        async with self.single.connect() as conn:
            await conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))

    async def mark_streamed(self, run_id: str, target: ReplyTarget, seq: int, *,
                            ended: bool) -> None:
        """Events up to ``seq`` went to ``target``; an ended stream is closed."""
        values: dict[str, Any] = {"reply_seq": seq}
        if ended:
            values.update(reply_topic=None, reply_corr=None, reply_rid=None)
        async with self.single.connect() as conn:
            # Only if the target is unchanged: a new request may have taken the stream over.
            await conn.execute(update(runs).where(and_(
                runs.c.run_id == run_id, runs.c.reply_topic == target.topic,
                runs.c.reply_rid == target.request_id)).values(**values))

    async def list_runs(self, workflow: str | None = None, limit: int = 50) -> list[Any]:
        """The newest runs (all workflows, or one), newest first."""
        query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        if workflow is not None:
            query = query.where(runs.c.workflow == workflow)
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).all())
