"""The index: change records, invariants, order independence, queries equal to brute force."""

from __future__ import annotations

import random
from typing import Any

import pytest

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.registry.entry import Entry, tokenize
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.registry.query import Query
from tests.unit.registry.cards import card_bytes, card_dict, payload

REF = AgentRef("acme", "plant", "inspector")
TOPIC = discovery_topic(REF)
WORDS = ["conveyor", "camera", "weld", "paint", "quality", "stock", "robot", "vision",
         "report", "Überprüfung", "forecast", "route"]
TAGS = ["inspection", "Vision", "logistics", "qa", "planning", "multi-turn"]
MODES = ["text/plain", "application/json", "image/png", "image/jpeg", "audio/wav"]


def kinds(changes: list[Any]) -> list[str]:
    return [c.kind for c in changes]


def test_lifecycle_of_one_agent() -> None:
    index = RegistryIndex()
    first = card_bytes(REF)
    added = index.apply(TOPIC, first, "online", "agent", 1.0)
    assert kinds(added) == ["added"] and added[0].seq == 1 and added[0].entry.seq == 1
    assert index.apply(TOPIC, first, "online", "agent", 2.0) == []  # no news
    offline = index.apply(TOPIC, first, "offline", "lwt", 3.0)
    assert kinds(offline) == ["offline"] and offline[0].previous is added[0].entry
    entry = index.get(REF)
    assert entry is not None and entry.status_since == 3.0 and entry.source == "lwt"
    assert kinds(index.apply(TOPIC, first, "offline", "agent", 4.0)) == ["updated"]
    assert index.get(REF).status_since == 3.0  # type: ignore[union-attr]
    assert kinds(index.apply(TOPIC, first, "online", "agent", 5.0)) == ["online"]
    changed = card_bytes(REF, name="Renamed inspector")
    assert kinds(index.apply(TOPIC, changed, "online", "agent", 6.0)) == ["updated"]
    assert index.get(REF).derived.name == "Renamed inspector"  # type: ignore[union-attr]
    broken = index.apply(TOPIC, b"{oops", "online", "agent", 7.0)
    assert kinds(broken) == ["removed", "rejected"]
    assert index.get(REF) is None and TOPIC in index.rejected
    assert index.apply(TOPIC, b"{oops", "online", "agent", 8.0) == []
    assert kinds(index.apply(TOPIC, first, "online", "agent", 9.0)) == ["added"]
    assert TOPIC not in index.rejected
    removed = index.apply(TOPIC, b"", "online", "agent", 10.0)
    assert kinds(removed) == ["removed"] and removed[0].entry.derived.name == "Line inspector"
    assert index.apply(TOPIC, b"", "online", "agent", 11.0) == []
    assert index.seq == 9 and index.entries == {} and index.rejected == {}


def test_unknown_status_is_an_update_not_online() -> None:
    index = RegistryIndex()
    index.apply(TOPIC, card_bytes(REF), "online", "agent", 1.0)
    assert kinds(index.apply(TOPIC, card_bytes(REF), "unknown", "agent", 2.0)) == ["updated"]


def test_topics_that_name_no_agent_are_rejected_and_cleared() -> None:
    index = RegistryIndex()
    topic = "$a2a/v1/discovery/acme/pl ant/x"
    (change,) = index.apply(topic, card_bytes(REF), "online", "agent", 1.0)
    assert change.kind == "rejected" and change.ref is None
    assert "does not name an agent" in index.rejected[topic].reasons[0]
    assert index.apply(topic, b"", "online", "agent", 2.0) == []
    assert topic not in index.rejected


def test_pools_are_indexed_as_pools() -> None:
    pool = AgentRef("acme", "plant", "inspectors", pool=True)
    index = RegistryIndex()
    index.apply(discovery_topic(pool), card_bytes(pool), "online", "agent", 1.0)
    page = index.query(Query(kind="pool"))
    assert [e.key for e in page.items] == ["acme/plant/pool/inspectors"]
    assert index.query(Query(kind="agent")).total == 0
    assert index.stats()["pools"] == 1


def random_card(rnd: random.Random, ref: AgentRef) -> bytes:
    skills = [{"id": f"skill-{rnd.randrange(8)}", "name": " ".join(rnd.sample(WORDS, 2)),
               "description": " ".join(rnd.sample(WORDS, 4)),
               "tags": rnd.sample(TAGS, rnd.randint(1, 2)),
               **({"input_modes": rnd.sample(MODES, 1)} if rnd.random() < 0.3 else {})}
              for _ in range(rnd.randint(1, 3))]
    return card_bytes(ref, name=f"{rnd.choice(WORDS).title()} agent {ref.name}",
                      description=" ".join(rnd.sample(WORDS, 3)), skills=skills,
                      inputs=tuple(rnd.sample(MODES, rnd.randint(1, 2))),
                      outputs=tuple(rnd.sample(MODES, 1)))


def random_refs(rnd: random.Random, n: int) -> list[AgentRef]:
    return [AgentRef(f"org{rnd.randrange(4)}", f"unit-{rnd.randrange(5)}", f"a{i}",
                     pool=rnd.random() < 0.05) for i in range(n)]


def populated(seed: int = 3, n: int = 300) -> tuple[RegistryIndex, list[AgentRef]]:
    rnd = random.Random(seed)
    index = RegistryIndex()
    refs = random_refs(rnd, n)
    for i, ref in enumerate(refs):
        status = rnd.choice(["online", "online", "offline", "unknown"])
        index.apply(discovery_topic(ref), random_card(rnd, ref), status, "agent", float(i))
    return index, refs


def random_query(rnd: random.Random, limit: int) -> Query:
    fields: dict[str, Any] = {"limit": limit}
    if rnd.random() < 0.4:
        fields["org"] = f"org{rnd.randrange(4)}"
    if rnd.random() < 0.3:
        fields["unit"] = f"unit-{rnd.randrange(5)}"
    if rnd.random() < 0.3:
        fields["status"] = rnd.choice(["online", "offline", "unknown"])
    if rnd.random() < 0.3:
        fields["tags"] = tuple(t.casefold() for t in rnd.sample(TAGS, rnd.randint(1, 2)))
    if rnd.random() < 0.2:
        fields["skills"] = (f"skill-{rnd.randrange(8)}",)
    if rnd.random() < 0.2:
        fields["inputs"] = (rnd.choice([*MODES, "image/*", "text/*"]),)
    if rnd.random() < 0.15:
        fields["outputs"] = (rnd.choice(MODES),)
    if rnd.random() < 0.3:
        fields["words"] = tuple(w[:rnd.randint(2, 6)] for w in tokenize(rnd.choice(WORDS)))
    if rnd.random() < 0.1:
        fields["name"] = rnd.choice(["agent a1", "weld", "a2"])
    if rnd.random() < 0.1:
        fields["kind"] = rnd.choice(["agent", "pool"])
    if rnd.random() < 0.1:
        fields["agent"] = f"a{rnd.randrange(50)}"
    if rnd.random() < 0.1:
        fields["changed_since"] = float(rnd.randrange(300))
    return Query(**fields)


def all_pages(index: RegistryIndex, query: Query) -> tuple[list[str], set[int]]:
    keys: list[str] = []
    totals: set[int] = set()
    after = None
    for _ in range(1000):
        page = index.query(Query(**{**_fields(query), "after": after}))
        keys += [e.key for e in page.items]
        totals.add(page.total)
        if page.next is None:
            return keys, totals
        from a2a_mqtt.registry.query import decode_cursor
        after = decode_cursor(page.next)
    raise AssertionError("pagination did not end")


def _fields(query: Query) -> dict[str, Any]:
    return {name: getattr(query, name) for name in Query.__dataclass_fields__}


def test_queries_equal_brute_force_through_every_page() -> None:
    index, _ = populated()
    rnd = random.Random(11)
    entries = list(index.entries.values())
    nonempty = 0
    for _ in range(400):
        query = random_query(rnd, limit=rnd.choice([1, 3, 7, 50, 1000]))
        expected = sorted(e.key for e in entries if query.matches(e))
        keys, totals = all_pages(index, query)
        assert keys == expected, query
        assert totals == {len(expected)}
        nonempty += bool(expected)
    assert nonempty > 150


def test_changed_since_and_word_prefixes() -> None:
    index, _refs = populated(n=50)
    assert index.query(Query(changed_since=40.0)).total == 10
    weld = index.query(Query(words=("wel",), limit=1000))
    assert weld.total and all(" weld" in e.derived.words for e in weld.items)
    assert index.query(Query(words=("zzz",))).total == 0


def check_invariants(index: RegistryIndex) -> None:
    """White box: every secondary index equals what the entries say."""
    from a2a_mqtt.registry.index import _index_values

    expected: dict[str, dict[str, set[str]]] = {f: {} for f in index.fields}
    tokens: dict[str, set[str]] = {}
    for entry in index.entries.values():
        for field, value in _index_values(entry):
            expected[field].setdefault(value, set()).add(entry.key)
        if entry.key in index.words._pending:
            continue
        for word in entry.derived.word_list():
            tokens.setdefault(word, set()).add(entry.key)
    assert index.fields == expected
    assert index.words._tokens == tokens
    assert [k for k in index.order.view() if k in index.entries] == sorted(index.entries)
    assert not set(index.rejected) & {discovery_topic(e.ref) for e in index.entries.values()}


def snapshot(index: RegistryIndex) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({k: (e.payload, e.status, e.source, e.etag) for k, e in index.entries.items()},
            {t: (r.reasons, r.etag) for t, r in index.rejected.items()})


def test_churn_keeps_invariants_and_the_final_state_is_order_independent() -> None:
    rnd = random.Random(5)
    refs = random_refs(rnd, 60)
    history: list[tuple[str, bytes, str]] = []
    for _ in range(900):
        ref = rnd.choice(refs)
        roll = rnd.random()
        body = (b"" if roll < 0.15 else b"garbage" if roll < 0.25
                else random_card(rnd, ref) if roll < 0.6 else card_bytes(ref))
        history.append((discovery_topic(ref), body, rnd.choice(["online", "offline"])))
    index = RegistryIndex()
    for i, (topic, body, status) in enumerate(history):
        index.apply(topic, body, status, "agent", float(i))
        if i % 50 == 0:
            check_invariants(index)
    check_invariants(index)
    # A second instance that only sees the last message per topic (a retained replay), in
    # another order, ends up identical.
    last = {topic: (body, status) for topic, body, status in history}
    replay = list(last.items())
    rnd.shuffle(replay)
    other = RegistryIndex()
    for topic, (body, status) in replay:
        other.apply(topic, body, status, "agent", 0.0)
    assert snapshot(other) == snapshot(index)
    for _ in range(50):
        query = random_query(rnd, limit=25)
        if query.changed_since is None:  # observation times are per instance
            assert all_pages(other, query) == all_pages(index, query)


def test_deferred_words_answer_exactly_before_and_after_linking() -> None:
    eager, _ = populated(seed=9, n=120)
    rnd = random.Random(9)
    lazy = RegistryIndex()
    lazy.defer_words = True
    for i, ref in enumerate(random_refs(rnd, 120)):
        status = rnd.choice(["online", "online", "offline", "unknown"])
        lazy.apply(discovery_topic(ref), random_card(rnd, ref), status, "agent", float(i))
    assert snapshot(lazy) == snapshot(eager)
    assert lazy.stats()["wordsPending"] == 120 and lazy.words._tokens == {}
    queries = [random_query(rnd, limit=9) for _ in range(60)]
    for query in queries:
        assert all_pages(lazy, query) == all_pages(eager, query)
    lazy.defer_words = False
    victim = next(iter(lazy.entries.values()))
    lazy.apply(discovery_topic(victim.ref), b"", "online", "agent", 0.0)  # still deferred
    eager.apply(discovery_topic(victim.ref), b"", "online", "agent", 0.0)
    assert lazy.link_words(50) == 69
    check_invariants(lazy)
    for query in queries:
        assert all_pages(lazy, query) == all_pages(eager, query)
    assert lazy.link_words() == 0
    check_invariants(lazy)
    assert lazy.words._tokens == eager.words._tokens


def test_sweep_drops_what_the_replay_did_not_deliver() -> None:
    index, refs = populated(n=20)
    bad = "$a2a/v1/discovery/x/y/z"
    index.apply(bad, b"nope", "online", "agent", 0.0)
    keep = refs[:5]
    index.begin_sweep()
    for ref in keep:
        entry = index.get(ref)
        assert entry is not None
        index.apply(discovery_topic(ref), entry.payload, entry.status, entry.source, 1.0)
    changes = index.end_sweep(2.0)
    assert sorted(e.key for e in index.entries.values()) == sorted(str(r) for r in keep)
    assert {c.kind for c in changes} == {"removed"} and len(changes) == 15
    assert index.rejected == {}
    check_invariants(index)
    assert index.end_sweep(3.0) == []  # no sweep in progress


def test_offline_since_before() -> None:
    index = RegistryIndex()
    for i, status in enumerate(["offline", "online", "offline"]):
        ref = AgentRef("o", "u", f"a{i}")
        index.apply(discovery_topic(ref), card_bytes(ref), status, "agent", float(i * 10))
    assert [e.key for e in index.offline_since_before(15.0)] == ["o/u/a0"]
    assert [e.key for e in index.offline_since_before(100.0)] == ["o/u/a0", "o/u/a2"]


def test_rejections_are_paged_by_topic() -> None:
    index = RegistryIndex()
    for i in range(7):
        index.apply(discovery_topic(AgentRef("o", "u" if i < 5 else "v", f"a{i}")), b"x",
                    "online", "agent", 0.0)
    items, total, cursor = index.rejections(limit=3)
    assert total == 7 and len(items) == 3 and cursor is not None
    from a2a_mqtt.registry.query import decode_cursor
    rest, _, end = index.rejections(limit=10, after=decode_cursor(cursor))
    assert [r.topic for r in items + rest] == sorted(index.rejected) and end is None
    assert index.rejections(unit="v")[1] == 2


def test_stats_count_what_is_there() -> None:
    index, _ = populated(n=40)
    index.apply("$a2a/v1/discovery/x/y/z", b"bad", "online", "agent", 0.0)
    stats = index.stats()
    assert stats["entries"] == 40 == stats["agents"] + stats["pools"]
    assert stats["online"] + stats["offline"] + stats["unknown"] == 40
    assert stats["rejected"] == 1 and stats["messages"] == 41 and stats["seq"] == 41
    assert stats["orgs"] == len({e.ref.org for e in index.entries.values()})


@pytest.mark.parametrize("status", ["online", "offline"])
def test_entry_etag_is_a_function_of_the_retained_state(status: str) -> None:
    a, b = RegistryIndex(), RegistryIndex()
    body = payload(card_dict(REF))
    a.apply(TOPIC, body, status, "agent", 1.0)
    b.apply(TOPIC, body, status, "agent", 99.0)
    ea, eb = a.get(REF), b.get(REF)
    assert isinstance(ea, Entry) and isinstance(eb, Entry)
    assert ea.etag == eb.etag and ea.changed_at != eb.changed_at
