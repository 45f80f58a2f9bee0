"""``batchwrite.chains``: how one batch's writes are grouped into units (pure logic)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from a2a.server.cluster import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Task
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.server.batchwrite import Write, chains, next_version

# (task, prev version: 0 = missing, behind)
write_st = st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 4), st.booleans())


def _writes(specs: list[tuple[str, int, bool]]) -> list[Write]:
    loop = asyncio.new_event_loop()
    try:
        return [Write(Task(id=t), None, TaskVersion(v) if v else TaskVersion.MISSING, "o",
                      ServerCallContext(), behind=behind,
                      done=loop.create_future()) for t, v, behind in specs]
    finally:
        loop.close()


def _follows(prev: Write, write: Write) -> bool:
    return (prev.behind and not write.prev_version.is_missing
            and write.prev_version == TaskVersion(next_version(prev.prev_version)))


@given(st.lists(write_st, max_size=12))
def test_chains_partition_the_batch_into_links_of_one_task(specs: Any) -> None:
    batch = _writes(specs)
    groups = chains(batch)
    assert sorted(i for g in groups for i in g) == list(range(len(batch)))
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)  # in queue order
    for g in groups:
        assert g == sorted(g)
        assert len({batch[i].task.id for i in g}) == 1
        for a, b in itertools.pairwise(g):
            assert _follows(batch[a], batch[b])
    # Maximal: a write starts a chain only when it cannot extend its task's last one.
    last: dict[str, int] = {}
    for g in groups:
        head = batch[g[0]]
        if head.task.id in last:
            assert not _follows(batch[last[head.task.id]], head)
        last[head.task.id] = g[-1]


def test_a_turn_is_one_chain_and_a_waited_write_ends_it() -> None:
    batch = _writes([("a", 0, True), ("b", 0, False), ("a", 1, True), ("a", 2, False),
                     ("a", 3, True)])
    assert chains(batch) == [[0, 2, 3], [1], [4]]
