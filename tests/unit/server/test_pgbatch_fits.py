"""``pgbatch.fits``: which batches one PostgreSQL statement may carry (pure logic)."""

from __future__ import annotations

import asyncio
from typing import Any

from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Task
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.server.batchwrite import Write, chains
from a2a_mqtt.server.inflight import InflightEntry
from a2a_mqtt.server.pgbatch import fits
from a2a_mqtt.server.turnbatch import Claim, Release

TASKS = ["a", "b", "c"]
# (task, prev version: 0 = missing, behind, owner)
write_st = st.tuples(st.sampled_from(TASKS), st.integers(0, 3), st.booleans(),
                     st.sampled_from(["o", "p"]))


def _batch(writes: list[tuple[str, int, bool, str]], claimed: list[str],
           released: list[str]) -> tuple[list[Write], list[Claim], list[Release]]:
    loop = asyncio.new_event_loop()
    try:
        return ([Write(Task(id=t), None, TaskVersion(v) if v else TaskVersion.MISSING, owner,
                       ServerCallContext(), behind=behind, done=loop.create_future())
                 for t, v, behind, owner in writes],
                [Claim(InflightEntry(task_id=t, message_id="m", owner="o", method="unary",
                                     response_topic="r", correlation=None, request_id="1"),
                       done=loop.create_future()) for t in claimed],
                [Release(t, "o") for t in released])
    finally:
        loop.close()


@given(st.lists(write_st, max_size=10), st.lists(st.sampled_from(TASKS), max_size=4),
       st.lists(st.sampled_from(TASKS), max_size=4))
def test_one_statement_only_without_a_release_and_claim_or_two_chains_of_a_task(
        writes: Any, claimed: Any, released: Any) -> None:
    batch, claims, releases = _batch(writes, claimed, released)
    heads = [batch[c[0]].task.id for c in chains(batch)]
    expected = (not set(claimed) & set(released)) and len(heads) == len(set(heads))
    assert fits(batch, claims, releases) is expected


def test_a_turns_chain_with_claims_and_releases_of_other_tasks_fits() -> None:
    batch, claims, releases = _batch([("a", 0, True, "o"), ("a", 1, True, "o"),
                                      ("a", 2, False, "o")], ["b", "b"], ["c"])
    assert fits(batch, claims, releases)
    assert not fits(batch, claims, [Release("b", "o")])  # released and claimed at once
    assert not fits(batch + _batch([("a", 0, False, "p")], [], [])[0], claims, releases)
