"""Derived index keys, words, and the JSON shapes (splicing the retained bytes)."""

from __future__ import annotations

import json
import random
import re
import string

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.registry.entry import derive, tokenize
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.registry.render import change_dict, entry_dict, entry_json, page_json
from tests.unit.registry.cards import card_bytes, card_dict

REF = AgentRef("acme", "plant", "inspector")


def test_ascii_fast_path_finds_the_same_words_as_the_regular_expression() -> None:
    rnd = random.Random(1)
    alphabet = string.printable + "\x00\x7f"
    words = re.compile(r"[^\W_]+")
    for _ in range(3000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(60)))
        assert tokenize(text) == words.findall(text.casefold()), text
    assert tokenize("Überprüfung der Straße, SCHRITT_2") == ["überprüfung", "der", "strasse",
                                                            "schritt", "2"]


def test_derived_keys() -> None:
    data = card_dict(REF, skills=[
        {"id": "inspect", "name": "Inspect", "description": "Looks at a conveyor",
         "tags": ["Inspection", "vision"], "input_modes": ["image/PNG"]},
        {"id": "inspect", "name": "Again", "description": "Duplicate id", "tags": ["qa"],
         "output_modes": ["application/pdf"]}], inputs=("text/plain",))
    derived = derive(data)
    assert derived.skills == ("inspect",)
    assert derived.tags == ("inspection", "qa", "vision")
    assert derived.inputs == ("image/*", "image/png", "text/*", "text/plain")
    assert derived.outputs == ("application/*", "application/json", "application/pdf")
    assert derived.has_word_prefix("conv") and not derived.has_word_prefix("onveyor")
    assert len(derived.word_list()) == len(set(derived.word_list()))


def test_entry_json_splices_the_retained_card() -> None:
    index = RegistryIndex()
    body = card_bytes(REF)
    (change,) = index.apply(discovery_topic(REF), body, "offline", "emqx", 1.5)
    entry = change.entry
    assert entry is not None and entry.authoritative
    decoded = json.loads(entry_json(entry))
    assert decoded == entry_dict(entry) and decoded["card"] == json.loads(body)
    assert "card" not in json.loads(entry_json(entry, card=False))
    assert decoded["observed"] == {"seq": 1, "changedAt": "1970-01-01T00:00:01.500Z",
                                   "statusSince": "1970-01-01T00:00:01.500Z"}
    page = json.loads(page_json([entry, entry], total=2, next_cursor=None, event_id="e-1",
                                card=True))
    assert page["total"] == 2 and page["items"][1] == decoded
    assert change_dict(change)["entry"] == decoded
