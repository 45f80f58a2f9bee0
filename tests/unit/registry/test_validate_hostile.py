"""Card validation under hostile payloads: a verdict for any bytes, and an accepted card
can always be written out again (issue 9, item 7)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.registry.validate import check_card, printable
from tests.unit.registry.churn import INVALID, MAX_CARD_BYTES, VALID, card, payload_of

REF = AgentRef("acme", "plant", "inspector")
FUZZ = settings(derandomize=True, max_examples=300, deadline=None)


@pytest.mark.parametrize("family", VALID)
def test_valid_families_are_accepted(family: str) -> None:
    verdict = check_card(REF, payload_of(family, REF, random.Random(1)),
                         max_bytes=MAX_CARD_BYTES)
    assert verdict.data is not None, verdict.reasons


@pytest.mark.parametrize("family", [f for f in INVALID if f != "bad-topic"])
def test_invalid_families_are_rejected_with_a_printable_reason(family: str) -> None:
    verdict = check_card(REF, payload_of(family, REF, random.Random(1)),
                         max_bytes=MAX_CARD_BYTES)
    assert verdict.data is None and verdict.reasons
    for reason in verdict.reasons:
        reason.encode("utf-8")  # a reason is shown over HTTP: it must encode


@pytest.mark.parametrize(("family", "words"), [
    ("surrogate-name", "name: a string holds a lone UTF-16 surrogate"),
    ("surrogate-tag", "skills/0/tags/1: a string holds a lone UTF-16 surrogate"),
    ("surrogate-key", "params/\\udc80 (key): a string holds a lone UTF-16 surrogate"),
    ("float-overflow", "cannot be represented: the number 1e400 overflows a double"),
    ("int-overflow", "cannot be represented: the number 9999"),
    ("nan", "is not JSON: NaN is not JSON"),
])
def test_unrepresentable_values_are_named(family: str, words: str) -> None:
    verdict = check_card(REF, payload_of(family, REF, random.Random(1)),
                         max_bytes=MAX_CARD_BYTES)
    assert any(words in reason for reason in verdict.reasons), verdict.reasons


def test_printable_escapes_only_what_cannot_be_encoded() -> None:
    assert printable("plain") == "plain"
    assert printable("Prüfer \ud800") == "Prüfer \\ud800"


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_get_a_verdict(body: bytes) -> None:
    verdict = check_card(REF, body, max_bytes=MAX_CARD_BYTES)
    assert (verdict.data is None) != (not verdict.reasons)


_any_text = st.text(st.characters(codec=None, categories=None), max_size=12)


@FUZZ
@given(name=_any_text, tag=_any_text, description=_any_text)
def test_an_accepted_card_always_encodes(name: str, tag: str, description: str) -> None:
    """Arbitrary text (lone surrogates included) in the fields a listing shows."""
    data = card(REF, random.Random(0), name=name, tags=[tag or "t"])
    data["description"] = description
    body = json.dumps(data).encode()  # ensure_ascii: lone surrogates become escapes
    verdict = check_card(REF, body, max_bytes=MAX_CARD_BYTES)
    encodable = all(not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
                    for s in (name, tag, description))
    assert (verdict.data is not None) == encodable, verdict.reasons
    if verdict.data is not None:
        json.dumps(verdict.data, ensure_ascii=False).encode("utf-8")
