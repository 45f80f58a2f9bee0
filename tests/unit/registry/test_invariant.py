"""The index equals the retained state it was sent, card for card, after any churn.

Stateful property test on the pure ingest path (``ingest.index_message`` into a
``RegistryIndex``): valid, invalid, replaced and cleared retained cards,
non-retained noise, and reconnect replays, against :class:`churn.Retained`,
a model of the broker that knows nothing of the validator. After every step
every entry and rejection must also render (HTTP, SSE and A2A shapes).
"""

from __future__ import annotations

import json
import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from a2a_mqtt.binding.topics import discovery_topic
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.registry.ingest import index_message
from a2a_mqtt.registry.query import Query
from a2a_mqtt.registry.render import change_dict, entry_dict, entry_json, rejection_dict
from tests.unit.registry.churn import (
    FAMILIES,
    MAX_CARD_BYTES,
    SOURCES,
    STATUSES,
    Retained,
    Step,
    churn,
    expected_index,
    make_step,
    message,
    topic_pool,
)

REFS = topic_pool(6)


def assert_index_equals(index: RegistryIndex, retained: Retained) -> None:
    entries, rejected = expected_index(retained)
    got = {discovery_topic(e.ref): (e.payload, e.status, e.source)
           for e in index.entries.values()}
    assert got == entries
    assert set(index.rejected) == rejected
    for rejection in index.rejected.values():
        assert rejection.reasons and all(r.strip() for r in rejection.reasons)
        # The rejection is of the payload now retained (its etag covers payload and status).
        step = retained.state[rejection.topic]
        assert rejection.size == len(step.payload)


def assert_renders(index: RegistryIndex) -> None:
    """Everything the index holds can be written out: no lookup or page can fail."""
    for entry in index.entries.values():
        json.loads(entry_json(entry))
        json.dumps(entry_dict(entry), ensure_ascii=False).encode()
    for rejection in index.rejected.values():
        json.dumps(rejection_dict(rejection), ensure_ascii=False).encode()
    seen, after = [], None
    while True:  # every page of the full listing, 2 at a time
        page = index.query(Query(limit=2, after=after))
        seen += [e.key for e in page.items]
        for entry in page.items:
            json.loads(entry_json(entry))
        if not page.items or page.next is None:
            break
        after = page.items[-1].key
    assert seen == sorted(index.entries)


class IngestMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.index = RegistryIndex(max_card_bytes=MAX_CARD_BYTES)
        self.retained = Retained()
        self.now = 0.0

    def _send(self, step: Step, *, retain: bool | None = None) -> None:
        self.now += 1.0
        changes = index_message(self.index, message(step, retain=retain), self.now)
        for change in changes or ():
            json.dumps(change_dict(change), ensure_ascii=False).encode()
        if not (step.retain if retain is None else retain):
            assert changes is None  # a non-retained publish is never indexed

    @rule(ref=st.sampled_from(REFS), family=st.sampled_from((*FAMILIES, "clear")),
          retain=st.booleans(), status=st.sampled_from(STATUSES),
          source=st.sampled_from(SOURCES), seed=st.integers(0, 2**16))
    def publish(self, ref: object, family: str, retain: bool, status: str | None,
                source: str | None, seed: int) -> None:
        assert ref in REFS
        step = make_step(REFS[REFS.index(ref)], family, random.Random(seed), retain=retain,
                         status=status, source=source)
        self.retained.apply(step)
        self._send(step)

    @rule(seed=st.integers(0, 2**16))
    def reconnect(self, seed: int) -> None:
        """A new session: the broker replays the retained state, in any order."""
        replay = list(self.retained.state.values())
        random.Random(seed).shuffle(replay)
        self.index.begin_sweep()
        for step in replay:
            self._send(step, retain=True)
        self.index.end_sweep(self.now)

    @invariant()
    def index_equals_retained_state(self) -> None:
        assert_index_equals(self.index, self.retained)

    @invariant()
    def everything_renders(self) -> None:
        assert_renders(self.index)


TestIngestMachine = IngestMachine.TestCase
TestIngestMachine.settings = settings(derandomize=True, max_examples=60,
                                      stateful_step_count=30, deadline=None)


def test_long_fixed_churn_ends_equal_to_the_retained_state() -> None:
    """2,000 publishes over 40 topics in one run (what the bench does at scale)."""
    index = RegistryIndex(max_card_bytes=MAX_CARD_BYTES)
    retained = Retained()
    for now, step in enumerate(churn(topic_pool(40), 2_000, seed=7, large=False)):
        retained.apply(step)
        index_message(index, message(step), float(now))
    assert_index_equals(index, retained)
    assert_renders(index)
    entries, rejected = expected_index(retained)
    assert len(entries) > 5 and len(rejected) > 5  # the run exercised both sides


def test_non_retained_messages_change_nothing() -> None:
    """Issue 9 item 8: a non-retained empty payload or garbage leaves a live card alone."""
    index = RegistryIndex()
    ref = REFS[0]
    valid = make_step(ref, "valid", random.Random(1), retain=True, status="online",
                      source="agent")
    index_message(index, message(valid), 1.0)
    for family in ("clear", "truncated", "surrogate-name", "valid"):
        noise = make_step(ref, family, random.Random(2), retain=False, status="offline",
                          source="lwt")
        assert index_message(index, message(noise), 2.0) is None
    entry = index.get(ref)
    assert entry is not None and entry.payload == valid.payload and entry.status == "online"
    assert index.rejected == {} and index.seq == 1
