"""Memory is bounded by the retained state, not by the traffic (issue 9: limits and expiry).

* after any amount of churn, every structure of the index is what a fresh index
  built from the final retained state holds (no word, field value or key left
  behind by replaced, rejected or cleared cards);
* the memo caches fed by card authors' strings stay within their limits;
* the change feed keeps at most ``ring_size`` changes, and a subscriber at most
  ``queue_size`` (one that lags further is dropped).
"""

from __future__ import annotations

import json
import random

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.registry import entry as entry_module
from a2a_mqtt.registry import validate as validate_module
from a2a_mqtt.registry.feed import ChangeFeed
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.registry.ingest import index_message
from a2a_mqtt.registry.query import Query
from tests.unit.registry.churn import (
    MAX_CARD_BYTES,
    Retained,
    Step,
    card,
    churn,
    message,
    topic_pool,
)


def fingerprint(index: RegistryIndex) -> tuple[object, ...]:
    live_order = [k for k in index.order.view() if k in index.entries]
    return (
        {k: (e.payload, e.status, e.source) for k, e in index.entries.items()},
        {t: r.etag for t, r in index.rejected.items()},
        {f: {v: set(keys) for v, keys in values.items()} for f, values in index.fields.items()},
        len(index.words), live_order,
    )


def test_the_index_after_churn_is_the_index_of_the_final_state() -> None:
    refs = topic_pool(25)
    rnd = random.Random(4)
    churned = RegistryIndex(max_card_bytes=MAX_CARD_BYTES)
    retained = Retained()
    steps = list(churn(refs, 3_000, seed=4, large=False))
    # Cards with words never seen before, so a leak of search words would show.
    for i in range(1_000):
        ref = rnd.choice(refs)
        data = card(ref, rnd, name=f"unique{i} word{i * 7}")
        steps.insert(rnd.randrange(len(steps)), Step(
            discovery_topic(ref), json.dumps(data).encode(), True, None, None,
            "valid"))
    for now, step in enumerate(steps):
        retained.apply(step)
        index_message(churned, message(step), float(now))
        if now % 500 == 0:
            churned.query(Query(words=("unique",), limit=5))  # compacts lazily sorted keys
    fresh = RegistryIndex(max_card_bytes=MAX_CARD_BYTES)
    for step in retained.state.values():
        index_message(fresh, message(step), 0.0)
    churned.query(Query(limit=1))
    fresh.query(Query(limit=1))
    assert fingerprint(churned) == fingerprint(fresh)
    assert len(churned.entries) + len(churned.rejected) <= len(refs) * 2  # bad topics too
    assert len(churned.order.view()) <= 64 + 1.25 * len(churned.entries)


def test_memo_caches_stay_within_their_limits() -> None:
    ref = AgentRef("acme", "plant", "a")
    for i in range(3 * validate_module._URL_CACHE_MAX):
        validate_module._broker_url_problem(f"mqtt://host{i}.example:1883")
    assert len(validate_module._url_problems) <= validate_module._URL_CACHE_MAX
    rnd = random.Random(1)
    for i in range(3 * entry_module._MODES_CACHE_MAX):
        data = card(ref, rnd)
        data["defaultInputModes"] = [f"type{i}/sub{i}"]
        entry_module.derive(data)
    assert len(entry_module._modes_cache) <= entry_module._MODES_CACHE_MAX
    assert len(entry_module._sorted_cache) <= entry_module._MODES_CACHE_MAX


def test_the_feed_keeps_at_most_its_ring_and_queues() -> None:
    index, feed = RegistryIndex(), ChangeFeed(ring_size=100, queue_size=10)
    lagging = [feed.subscribe() for _ in range(50)]
    refs = topic_pool(30)
    for now, step in enumerate(churn(refs, 2_000, seed=2, large=False)):
        feed.publish(index_message(index, message(step), float(now)) or [])
    assert feed.seq > 100
    assert len(feed._ring) == 100
    assert feed.subscribers == 0  # every lagging reader was dropped ...
    for sub in lagging:
        assert len(sub._queue) == 1  # ... holding only its overflow marker
