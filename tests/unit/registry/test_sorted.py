"""SortedKeys stays equal to sorted(live keys) under any sequence of operations."""

from __future__ import annotations

import random

from a2a_mqtt.registry._sorted import SortedKeys


def test_random_operations_match_a_plain_sorted_set() -> None:
    rnd = random.Random(7)
    keys = SortedKeys()
    live: set[str] = set()
    for step in range(20_000):
        key = f"k{rnd.randrange(600):04d}"
        if rnd.random() < 0.55:
            keys.add(key)
            live.add(key)
        else:
            keys.discard(key)
            live.discard(key)
        if step % 97 == 0 or rnd.random() < 0.01:
            view = keys.view()
            assert view == sorted(view)
            assert len(view) == len(set(view)), "a key is listed twice"
            assert [k for k in view if k in live] == sorted(live)


def test_bulk_additions_then_reads() -> None:
    keys = SortedKeys()
    for i in reversed(range(5000)):
        keys.add(f"{i:05d}")
    assert keys.view() == [f"{i:05d}" for i in range(5000)]
    keys.add("00000")  # already there: no duplicate
    keys.discard("00001")
    keys.add("00001")  # revived in place
    assert keys.view() == [f"{i:05d}" for i in range(5000)]
