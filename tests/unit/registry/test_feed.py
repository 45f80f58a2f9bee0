"""The change feed: order, filters, ring resumption, resync, overflow, close."""

from __future__ import annotations

import pytest

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.registry.entry import Change
from a2a_mqtt.registry.feed import ChangeFeed
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.registry.query import Query
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio


def churn(index: RegistryIndex, feed: ChangeFeed, n: int, *, org: str = "o") -> None:
    for i in range(n):
        ref = AgentRef(org, "u", f"a{i}")
        feed.publish(index.apply(discovery_topic(ref), card_bytes(ref), "online", "agent",
                                 float(i)))


async def drain(sub: object, n: int) -> list[object]:
    out = []
    for _ in range(n):
        out.append(await sub.next(1.0))  # type: ignore[attr-defined]
    return out


async def test_subscribers_get_changes_in_order_from_now_on() -> None:
    index, feed = RegistryIndex(), ChangeFeed()
    churn(index, feed, 3)
    sub = feed.subscribe()
    churn(index, feed, 6)  # a0..a2 are refreshes without news; a3..a5 are new
    items = await drain(sub, 3)
    assert [c.seq for c in items if isinstance(c, Change)] == [4, 5, 6]
    assert await sub.next(0.01) is None  # nothing more: a timeout, not an end
    assert feed.event_id() == f"{feed.epoch}-6"


async def test_resume_from_the_ring_and_resync_when_too_old_or_foreign() -> None:
    index, feed = RegistryIndex(), ChangeFeed(ring_size=5)
    churn(index, feed, 10)
    assert feed.parse_event_id(f"{feed.epoch}-7") == 7
    assert feed.parse_event_id("deadbeef-7") is None
    assert feed.parse_event_id(f"{feed.epoch}-99") is None  # from the future: not ours
    resumed = feed.subscribe(after=7)
    assert [c.seq for c in await drain(resumed, 3)][:2] == [8, 9]
    too_old = feed.subscribe(after=2)
    assert await too_old.next(0.1) == "resync"
    foreign = feed.subscribe(resync=True)
    assert await foreign.next(0.1) == "resync"
    churn(index, feed, 11)
    assert isinstance(await foreign.next(1.0), Change)  # live after the marker


async def test_filters_see_entries_leaving_the_filter() -> None:
    index, feed = RegistryIndex(), ChangeFeed()
    query = Query(status="online")
    sub = feed.subscribe(match=query.matches_change)
    ref = AgentRef("o", "u", "a")
    body = card_bytes(ref)
    topic = discovery_topic(ref)
    for status in ("online", "offline", "offline"):
        feed.publish(index.apply(topic, body, status, "agent", 0.0))
    other = AgentRef("o", "u", "b")
    feed.publish(index.apply(discovery_topic(other), card_bytes(other), "offline", "agent", 0.0))
    feed.publish(index.apply(topic, b"", "offline", "agent", 0.0))  # removed while offline
    kinds = [c.kind for c in await drain(sub, 2) if isinstance(c, Change)]
    assert kinds == ["added", "offline"]
    assert await sub.next(0.01) is None


async def test_rejections_pass_only_reference_filters() -> None:
    index, feed = RegistryIndex(), ChangeFeed()
    by_org = feed.subscribe(match=Query(org="o").matches_change)
    by_tag = feed.subscribe(match=Query(tags=("x",)).matches_change)
    feed.publish(index.apply(discovery_topic(AgentRef("o", "u", "a")), b"bad", "online",
                             "agent", 0.0))
    feed.publish(index.apply("$a2a/v1/discovery/o/u/b c", b"bad", "online", "agent", 0.0))
    (change,) = await drain(by_org, 1)
    assert isinstance(change, Change) and change.kind == "rejected"
    assert await by_org.next(0.01) is None  # the bad topic has no org to match
    assert await by_tag.next(0.01) is None


async def test_a_slow_reader_is_dropped_with_overflow_and_can_resume() -> None:
    index, feed = RegistryIndex(), ChangeFeed(queue_size=4, ring_size=100)
    slow = feed.subscribe()
    fast = feed.subscribe()
    for n in range(1, 7):  # one more change each round; fast keeps up, slow never reads
        churn(index, feed, n)
        assert [c.seq for c in await drain(fast, 1)] == [n]  # type: ignore[attr-defined]
    assert await slow.next(0.1) == "overflow"
    assert await slow.next(0.1) == "closed"
    assert feed.subscribers == 1
    assert slow.last_seq == 0
    # Resuming replays from the ring, within the same bound; a longer backlog is a resync
    # (an overflow at once would send the reader back with the same id forever).
    assert await feed.subscribe(after=slow.last_seq).next(0.1) == "resync"
    again = feed.subscribe(after=3)
    assert [c.seq for c in await drain(again, 3)] == [4, 5, 6]  # type: ignore[attr-defined]


async def test_close_ends_everyone() -> None:
    feed = ChangeFeed()
    sub = feed.subscribe()
    feed.close()
    assert await sub.next(1.0) == "closed"
    assert await feed.subscribe().next(1.0) == "closed"
    assert feed.subscribers == 0
