"""The designated supervisor of a request (rendezvous hashing): pure, no I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.workflows.intake import designated

MEMBERS = st.sets(st.text(min_size=1, max_size=12), min_size=1, max_size=8)
KEYS = st.lists(st.text(max_size=40), min_size=1, max_size=30, unique=True)


@given(MEMBERS, KEYS)
def test_every_member_agrees_whatever_order_it_lists_the_group_in(
        members: set[str], keys: list[str]) -> None:
    for key in keys:
        chosen = designated(key, sorted(members))
        assert chosen in members
        assert designated(key, sorted(members, reverse=True)) == chosen


@given(MEMBERS, st.text(min_size=1, max_size=12), KEYS)
def test_a_member_leaving_moves_only_its_own_requests(
        members: set[str], leaver: str, keys: list[str]) -> None:
    group = members | {leaver}
    rest = group - {leaver}
    for key in keys:
        before = designated(key, group)
        after = designated(key, rest)
        if before != leaver:
            assert after == before       # nobody else's requests move (no reshuffle)
        else:
            assert after != leaver


def test_requests_spread_over_the_group_and_nobody_is_designated_in_an_empty_one() -> None:
    group = ["sup-a", "sup-b", "sup-c"]
    counts = dict.fromkeys(group, 0)
    for i in range(3000):
        counts[designated(f"key-{i}", group) or ""] += 1
    assert all(800 < n < 1200 for n in counts.values()), counts
    assert designated("key", []) is None
