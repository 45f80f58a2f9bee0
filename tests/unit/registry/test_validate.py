"""Which payloads the registry indexes, and the reasons it gives for the others."""

from __future__ import annotations

import pytest

from a2a_mqtt.binding.card import ROUTING_EXTENSION_URI
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.registry.validate import MAX_REASONS, check_card
from tests.unit.registry.cards import card_bytes, card_dict, payload

REF = AgentRef("acme", "plant", "inspector")
LIMIT = 64 * 1024


def reasons(body: bytes, ref: AgentRef = REF) -> tuple[str, ...]:
    verdict = check_card(ref, body, max_bytes=LIMIT)
    assert verdict.data is None, "expected a rejection"
    return verdict.reasons


def test_a_publishable_card_is_accepted() -> None:
    verdict = check_card(REF, card_bytes(REF), max_bytes=LIMIT)
    assert verdict.reasons == ()
    assert verdict.data is not None and verdict.data["name"] == "Line inspector"


def test_oversized_payload_is_refused_before_decoding() -> None:
    body = b"{" + b" " * LIMIT + b"}"
    assert reasons(body) == (f"card payload of {len(body)} bytes exceeds the limit of "
                             f"{LIMIT} bytes",)


@pytest.mark.parametrize(("body", "expected"), [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"not json", "not JSON"),
    (b'{"name": ', "not JSON"),
    (b'\xef\xbb\xbf{"name": "x"}', "not JSON"),  # UTF-8 BOM (docs/binding.md §3.3)
    (b'{"name": NaN}', "not JSON"),
    (b"[1, 2]", "JSON list, not an object"),
    (b'"card"', "JSON str, not an object"),
])
def test_payloads_that_are_not_a_json_object(body: bytes, expected: str) -> None:
    (reason,) = reasons(body)
    assert expected in reason


def test_missing_required_fields_are_named() -> None:
    data = card_dict(REF)
    del data["version"], data["skills"][0]["name"]
    found = reasons(payload(data))
    assert "(card): 'version' is a required property" in found
    assert "skills/0: 'name' is a required property" in found


def test_skills_without_tags_are_refused() -> None:
    data = card_dict(REF)
    del data["skills"][0]["tags"]
    assert reasons(payload(data)) == ("skills/0: 'tags' is a required property",)
    data["skills"][0]["tags"] = []
    assert reasons(payload(data)) == ("skills/0/tags: a skill needs at least one tag",)


def test_unknown_fields_and_0_3_cards_are_refused() -> None:
    data = card_dict(REF)
    data["url"] = "http://old.example"
    (reason,) = reasons(payload(data))
    assert "Additional properties are not allowed ('url' was unexpected)" in reason


def test_many_problems_are_clipped() -> None:
    data = card_dict(REF)
    data["skills"] = [{"id": i} for i in range(30)]
    found = reasons(payload(data))
    assert len(found) == MAX_REASONS + 1 and found[-1].startswith("... and ")


def test_routing_extension_must_name_the_topics_agent() -> None:
    other = AgentRef("acme", "plant", "someone-else")
    found = reasons(card_bytes(other), REF)
    assert found == ("capabilities/extensions/0/params/agentRef: the routing extension names "
                     "acme/plant/someone-else but the card is retained on the discovery topic "
                     "of acme/plant/inspector",)


def test_routing_extension_with_a_bad_identifier() -> None:
    data = card_dict(REF)
    data["capabilities"]["extensions"][0]["params"]["agentRef"] = "acme/pl ant/x"
    (reason,) = reasons(payload(data))
    assert "'acme/pl ant/x' is not a valid agent reference" in reason


def test_routing_extension_without_agent_ref_looks_at_the_next() -> None:
    data = card_dict(REF)
    data["capabilities"]["extensions"].insert(0, {"uri": ROUTING_EXTENSION_URI, "params": {}})
    assert check_card(REF, payload(data), max_bytes=LIMIT).data is not None


def test_cards_without_routing_extension_take_the_topic() -> None:
    data = card_dict(REF)
    del data["capabilities"]["extensions"]
    assert check_card(REF, payload(data), max_bytes=LIMIT).data is not None


@pytest.mark.parametrize(("version", "url", "problem"), [
    ("0.3", "mqtt://b:1883", "needs protocol version 1.0, got '0.3'"),
    ("1", "mqtt://b:1883", "needs protocol version 1.0, got '1'"),
    ("1.0.0", "http://b:80", "is not a broker URL"),
    ("1.0", "mqtt://", "is not a broker URL"),
    ("1.0", "mqtt://b:99999", "is not a broker URL"),
])
def test_interfaces_claiming_the_mqtt_binding(version: str, url: str, problem: str) -> None:
    data = card_dict(REF)
    data["supportedInterfaces"][0].update(protocolVersion=version, url=url)
    (reason,) = reasons(payload(data))
    assert reason.startswith("supportedInterfaces/0/") and problem in reason


def test_aliases_are_held_to_the_same_rules_and_others_are_not() -> None:
    data = card_dict(REF)
    data["supportedInterfaces"] = [
        {"url": "wss://b.example/mqtt", "protocolBinding": "MQTTv5+JSONRPCv2",
         "protocolVersion": "1.0.0"},
        {"url": "https://b.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}]
    assert check_card(REF, payload(data), max_bytes=LIMIT).data is not None
    data["supportedInterfaces"][0]["url"] = "https://b.example"
    assert len(reasons(payload(data))) == 1
