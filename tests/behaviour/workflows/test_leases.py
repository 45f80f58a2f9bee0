"""Run ownership in a real database (SQLite and PostgreSQL): leases, epochs, fencing."""

from __future__ import annotations

import asyncio
import time

import pytest

from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.leases import Fenced, Leases, ReplyTarget, SeqTaken
from a2a_mqtt.workflows.state import CancelRequested, RunFailed, StepSkipped, start_run
from a2a_mqtt.workflows.store import RunStore

pytestmark = pytest.mark.asyncio

WF = parse_workflow("""
name: one
steps:
  a: {agent: {ref: o/u/a}, input: go}
output: {text: done}
""")


async def test_one_owner_at_a_time_and_a_stale_owner_writes_nothing(store_url: str) -> None:
    async with RunStore(store_url) as store:
        a = Leases(store.engine, owner="sup-a", ttl=0.3)
        b = Leases(store.engine, owner="sup-b", ttl=0.3)
        state = start_run("run-1", WF, {}, at=time.time())
        assert await a.create(state, context_id="c", reply=None)
        assert not await b.create(state, context_id="c", reply=None)   # one run per id
        assert await b.claim("run-1", dead=()) is None                 # lease still held
        assert await b.claimable(["one"], dead=()) == []
        await asyncio.sleep(0.4)                                        # the lease lapses
        assert await b.claimable(["one"], dead=()) == ["run-1"]
        assert await b.claim("run-1", dead=()) == 2
        assert await a.claim("run-1", dead=()) is None                 # b holds it now
        # a was paused (GC, SIGSTOP, partition) and wakes up believing it owns the run:
        with pytest.raises(Fenced):
            await a.append("run-1", 1, 1, StepSkipped("a", "x", 0.0), status="running",
                           error=None)
        assert await a.renew({"run-1": 1}) == ["run-1"]
        await b.append("run-1", 2, 1, StepSkipped("a", "x", 0.0), status="running",
                       error=None)
        # An input taken by any supervisor lands at the next position ...
        assert await a.append_input("run-1", CancelRequested("stop", 0.0)) == 2
        # ... so the owner's write at that position loses and must re-read first.
        with pytest.raises(SeqTaken):
            await b.append("run-1", 2, 2, RunFailed("x", 0.0), status="failed", error="x")
        logged = await store.events_after("run-1", -1)
        assert [type(e).__name__ for e in logged] == ["RunStarted", "StepSkipped",
                                                      "CancelRequested"]


async def test_a_dead_owner_loses_its_runs_before_the_lease_lapses(store_url: str) -> None:
    async with RunStore(store_url) as store:
        a = Leases(store.engine, owner="sup-a", ttl=60)
        b = Leases(store.engine, owner="sup-b", ttl=60)
        await a.create(start_run("run-2", WF, {}, at=time.time()), context_id="c", reply=None)
        assert await b.claim("run-2", dead=()) is None
        assert await b.claim("run-2", dead=["sup-a"]) == 2             # its Last Will fired
        await b.append("run-2", 2, 1, RunFailed("x", 0.0), status="failed", error="x")
        assert await b.claimable(["one"], dead=["sup-a"]) == []        # finished runs stay


async def test_a_batch_of_writes_is_fenced_atomic_and_saves_the_stream_position(
        store_url: str) -> None:
    """``append_many`` (one statement on PostgreSQL): all of a batch or none of it."""
    target = ReplyTarget("reply/topic", b"corr", '"rid-1"')
    async with RunStore(store_url) as store:
        a = Leases(store.engine, owner="sup-a", ttl=60)
        b = Leases(store.engine, owner="sup-b", ttl=60)
        assert await a.create(start_run("run-3", WF, {}, at=time.time()), context_id="c",
                              reply=target)
        await a.append_many("run-3", 1, 1, [StepSkipped("a", "x", 0.0),
                                            CancelRequested("stop", 0.0)],
                            status="cancelling", error=None, reply=target, streamed=1)
        row = await store.run_row("run-3")
        assert (row.status, row.reply_seq, row.reply_topic) == ("cancelling", 1, "reply/topic")
        # A position saved for another stream than the run's current one is not saved.
        await a.append_many("run-3", 1, 3, [StepSkipped("b", "y", 0.0)], status="running",
                            error=None, reply=ReplyTarget("other", None, "7"), streamed=3)
        assert (await store.run_row("run-3")).reply_seq == 1
        assert await a.renew({"run-3": 1}) == []                       # still ours
        await a.release("run-3", 1)
        assert await b.claim("run-3", dead=()) == 2
        with pytest.raises(Fenced):                                     # a is stale now
            await a.append_many("run-3", 1, 4, [RunFailed("x", 0.0)], status="failed",
                                error="x")
        assert await a.renew({"run-3": 1}) == ["run-3"]
        assert await a.append_input("run-3", CancelRequested("again", 0.0)) == 4
        with pytest.raises(SeqTaken):           # position 4 is taken: nothing of it lands
            await b.append_many("run-3", 2, 4, [RunFailed("x", 0.0), RunFailed("y", 0.0)],
                                status="failed", error="x")
        logged = await store.events_after("run-3", -1)
        assert [type(e).__name__ for e in logged] == [
            "RunStarted", "StepSkipped", "CancelRequested", "StepSkipped", "CancelRequested"]
        assert (await store.run_row("run-3")).status == "running"
