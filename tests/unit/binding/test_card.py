"""Agent Cards: binding identifier, routing extension, schema (docs/binding.md §5)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentSkill,
)
from a2a_over_mqtt import build_card

from a2a_mqtt.binding.card import (
    BINDING_ALIASES,
    BINDING_URI,
    PROTOCOL_VERSION,
    ROUTING_EXTENSION_URI,
    card_problems,
    card_to_dict,
    encode_card,
    find_mqtt_interface,
    is_mqtt_binding,
    parse_card,
    prepare_card,
    routing_ref,
)
from a2a_mqtt.binding.card_schema import agent_card_schema
from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.errors import ConfigError, InvalidCardError, RemoteProtocolError

REF = AgentRef("com.example", "factory-a", "inspector-1")
BROKER = "mqtts://broker.example.com:8883"
EMQX_ALLOWED = {"name", "description", "supportedInterfaces", "provider", "version",
                "documentationUrl", "capabilities", "securitySchemes", "securityRequirements",
                "defaultInputModes", "defaultOutputModes", "skills", "signatures", "iconUrl"}
EMQX_REQUIRED = {"name", "description", "supportedInterfaces", "version", "capabilities",
                 "defaultInputModes", "defaultOutputModes", "skills"}


def skill(**overrides: Any) -> AgentSkill:
    fields: dict[str, Any] = {"id": "inspect", "name": "Inspect", "description": "Inspects",
                              "tags": ["inspection"]}
    fields.update(overrides)
    return AgentSkill(**fields)


def card(**overrides: Any) -> AgentCard:
    fields: dict[str, Any] = {"name": "Line inspector", "description": "Inspects lines",
                              "skills": [skill()]}
    fields.update(overrides)
    return AgentCard(**fields)


def valid_dict() -> dict[str, Any]:
    return {
        "name": "n", "description": "d", "version": "1.0.0",
        "supportedInterfaces": [{"url": BROKER, "protocolBinding": BINDING_URI,
                                 "protocolVersion": "1.0"}],
        "capabilities": {}, "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "s", "name": "S", "description": "sd", "tags": ["t"]}],
    }


def routing(ext_cards: AgentCard) -> list[AgentExtension]:
    return [e for e in ext_cards.capabilities.extensions if e.uri == ROUTING_EXTENSION_URI]


# -- identifiers -----------------------------------------------------------------------------

def test_binding_constants() -> None:
    assert BINDING_URI == "urn:a2a:binding:mqtt5:v1"
    assert ROUTING_EXTENSION_URI == "urn:a2a:binding:mqtt5:v1:routing"
    assert PROTOCOL_VERSION == "1.0"
    assert set(BINDING_ALIASES) >= {"MQTTv5+JSONRPCv2", "MQTT5+JSONRPC"}


@pytest.mark.parametrize("label", [BINDING_URI, BINDING_URI.upper(), "MQTTv5+JSONRPCv2",
                                   "mqttv5+jsonrpcv2", "MQTT5+JSONRPC", "MQTT", "mqtt"])
def test_mqtt_labels(label: str) -> None:
    assert is_mqtt_binding(label)


@pytest.mark.parametrize("label", ["JSONRPC", "GRPC", "HTTP+JSON", "", "MQTT5", "mqtt://x",
                                   "urn:a2a:binding:mqtt5:v2", "urn:a2a:binding:mqtt5:v1 "])
def test_other_labels(label: str) -> None:
    assert not is_mqtt_binding(label)


def test_find_mqtt_interface_takes_the_first_in_card_order() -> None:
    c = card(supported_interfaces=[
        AgentInterface(url="https://x/rpc", protocol_binding="JSONRPC", protocol_version="1.0"),
        AgentInterface(url="mqtt://a", protocol_binding="MQTTv5+JSONRPCv2",
                       protocol_version="1.0.0"),
        AgentInterface(url="mqtt://b", protocol_binding=BINDING_URI, protocol_version="1.0"),
    ])
    found = find_mqtt_interface(c)
    assert found is not None
    assert found.url == "mqtt://a"


def test_find_mqtt_interface_none() -> None:
    assert find_mqtt_interface(card()) is None
    assert find_mqtt_interface(card(supported_interfaces=[
        AgentInterface(url="https://x", protocol_binding="JSONRPC")])) is None


# -- prepare_card ----------------------------------------------------------------------------

def test_prepare_card_adds_interface_and_routing_extension() -> None:
    prepared = prepare_card(card(), ref=REF, broker_url=BROKER)
    iface = find_mqtt_interface(prepared)
    assert iface is not None
    assert (iface.url, iface.protocol_binding, iface.protocol_version) == (
        BROKER, BINDING_URI, "1.0")
    [ext] = routing(prepared)
    assert ext.required is False
    assert dict(ext.params) == {"agentRef": "com.example/factory-a/inspector-1",
                                "requestTopic": request_topic(REF)}
    assert routing_ref(prepared) == REF
    assert card_problems(card_to_dict(prepared)) == []


def test_prepare_card_fills_defaults_and_keeps_values() -> None:
    prepared = prepare_card(card(), ref=REF, broker_url=BROKER)
    assert prepared.version == "1.0.0"
    assert list(prepared.default_input_modes) == ["text/plain"]
    assert list(prepared.default_output_modes) == ["text/plain"]
    given = prepare_card(card(version="2.3.4", default_input_modes=["application/json"],
                              default_output_modes=["image/png"]), ref=REF, broker_url=BROKER)
    assert given.version == "2.3.4"
    assert list(given.default_input_modes) == ["application/json"]
    assert list(given.default_output_modes) == ["image/png"]


def test_prepare_card_does_not_touch_its_input() -> None:
    original = card()
    before = original.SerializeToString()
    prepare_card(original, ref=REF, broker_url=BROKER)
    assert original.SerializeToString() == before


def test_prepare_card_refreshes_an_alias_interface_in_place() -> None:
    c = card(supported_interfaces=[
        AgentInterface(url="https://x/rpc", protocol_binding="JSONRPC", protocol_version="1.0"),
        AgentInterface(url="mqtt://old:1883", protocol_binding="MQTTv5+JSONRPCv2",
                       protocol_version="1.0.0", tenant="t1"),
    ])
    prepared = prepare_card(c, ref=REF, broker_url=BROKER)
    assert [(i.url, i.protocol_binding, i.protocol_version, i.tenant)
            for i in prepared.supported_interfaces] == [
        ("https://x/rpc", "JSONRPC", "1.0", ""), (BROKER, BINDING_URI, "1.0", "t1")]


def test_prepare_card_keeps_other_extensions_and_puts_routing_last() -> None:
    other = AgentExtension(uri="urn:example:other", description="other")
    stale = AgentExtension(uri=ROUTING_EXTENSION_URI)
    stale.params.update({"agentRef": "x/y/z"})
    prepared = prepare_card(card(capabilities=AgentCapabilities(
        streaming=True, extensions=[stale, other])), ref=REF, broker_url=BROKER)
    assert [e.uri for e in prepared.capabilities.extensions] == [
        "urn:example:other", ROUTING_EXTENSION_URI]
    assert prepared.capabilities.streaming is True
    assert routing_ref(prepared) == REF


def test_prepare_card_is_idempotent() -> None:
    once = prepare_card(card(), ref=REF, broker_url=BROKER)
    twice = prepare_card(once, ref=REF, broker_url=BROKER)
    assert twice == once
    assert encode_card(twice) == encode_card(once)
    assert len(twice.supported_interfaces) == 1
    assert len(routing(twice)) == 1


def test_re_prepare_for_another_agent_and_broker() -> None:
    other = AgentRef("org2", "unit2", "agent2")
    moved = prepare_card(prepare_card(card(), ref=REF, broker_url=BROKER), ref=other,
                         broker_url="mqtt://other:1883")
    assert routing_ref(moved) == other
    assert [i.url for i in moved.supported_interfaces] == ["mqtt://other:1883"]
    assert len(routing(moved)) == 1


def test_prepare_card_for_a_pool() -> None:
    pool = AgentRef("o", "u", "workers", pool=True)
    prepared = prepare_card(card(), ref=pool, broker_url=BROKER)
    assert routing_ref(prepared) == pool
    assert dict(routing(prepared)[0].params)["requestTopic"] == "$a2a/v1/request/o/u/pool/workers"


@pytest.mark.parametrize(("bad", "problem"), [
    (card(skills=[skill(tags=[])]), "tags"),
    (card(skills=[skill(), skill(id="second", tags=[])]), "skills/1"),
    (card(name=""), "name"),
    (card(description=""), "description"),
    (card(skills=[skill(id="")]), "id"),
    (card(skills=[]), "skills"),
])
def test_prepare_card_rejects_unpublishable_cards(bad: AgentCard, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        prepare_card(bad, ref=REF, broker_url=BROKER)


# -- encode / parse --------------------------------------------------------------------------

def test_encode_card_is_compact_protojson() -> None:
    prepared = prepare_card(card(), ref=REF, broker_url=BROKER)
    payload = encode_card(prepared)
    assert b": " not in payload
    assert b", " not in payload
    data = json.loads(payload)
    assert data["supportedInterfaces"][0]["protocolBinding"] == BINDING_URI
    assert "supported_interfaces" not in data
    assert parse_card(payload) == prepared


@pytest.mark.parametrize("payload", [b"", b"not json", b"{", b"\xc3\x28", "{'a': 1}",
                                     '{"name":"n"}'.encode("utf-16"),
                                     '{"name":"n"}'.encode("utf-8-sig")])
def test_parse_card_rejects_non_json(payload: bytes | str) -> None:
    with pytest.raises(InvalidCardError, match="not UTF-8 JSON"):
        parse_card(payload)


@pytest.mark.parametrize("payload", [b"[]", b"[{}]", b'"card"', b"1", b"null", b"true"])
def test_parse_card_rejects_non_objects(payload: bytes) -> None:
    with pytest.raises(InvalidCardError, match="not a JSON object"):
        parse_card(payload)
    with pytest.raises(InvalidCardError, match="not a JSON object"):
        parse_card(payload, validate=False)


def test_parse_card_size_limit() -> None:
    payload = encode_card(prepare_card(card(), ref=REF, broker_url=BROKER))
    assert parse_card(payload, max_bytes=len(payload)).name == "Line inspector"
    with pytest.raises(InvalidCardError, match="exceeds"):
        parse_card(payload, max_bytes=len(payload) - 1)


def test_parse_card_validates_by_default() -> None:
    data = valid_dict()
    del data["skills"][0]["tags"]
    with pytest.raises(InvalidCardError, match="tags") as info:
        parse_card(json.dumps(data).encode())
    assert isinstance(info.value, RemoteProtocolError)
    assert isinstance(info.value.data, list)
    assert any("tags" in p for p in info.value.data)


def test_parse_card_lenient_mode_ignores_unknown_fields() -> None:
    data = {**valid_dict(), "url": "http://x", "x-custom": {"a": 1}}
    with pytest.raises(InvalidCardError):
        parse_card(data)
    parsed = parse_card(data, validate=False)
    assert parsed.name == "n"
    assert parsed.supported_interfaces[0].protocol_binding == BINDING_URI


def test_parse_card_accepts_a_dict() -> None:
    assert parse_card(valid_dict()).skills[0].tags == ["t"]


def test_parse_card_rejects_type_mismatches_after_the_schema() -> None:
    data = valid_dict()
    data["capabilities"] = {"streaming": "yes"}
    with pytest.raises(InvalidCardError):
        parse_card(data)
    with pytest.raises(InvalidCardError, match=r"not an A2A 1\.0 AgentCard"):
        parse_card({"name": 5}, validate=False)


# -- routing_ref -----------------------------------------------------------------------------

def routed(*params: dict[str, Any]) -> AgentCard:
    exts = []
    for p in params:
        ext = AgentExtension(uri=ROUTING_EXTENSION_URI)
        ext.params.update(p)
        exts.append(ext)
    return card(capabilities=AgentCapabilities(extensions=exts))


@pytest.mark.parametrize(("c", "expected"), [
    (card(), None),
    (routed({"agentRef": "o/u/a"}), AgentRef("o", "u", "a")),
    (routed({"agentRef": "o/u/pool/p"}), AgentRef("o", "u", "p", pool=True)),
    (routed({"agentRef": "not a ref"}), None),
    (routed({"agentRef": "o/u"}), None),
    (routed({"agentRef": 5}), None),
    (routed({"requestTopic": "$a2a/v1/request/o/u/a"}), None),
    (routed({}, {"agentRef": "o/u/second"}), AgentRef("o", "u", "second")),
    (routed({"agentRef": "o/u/first"}, {"agentRef": "o/u/second"}), AgentRef("o", "u", "first")),
])
def test_routing_ref(c: AgentCard, expected: AgentRef | None) -> None:
    assert routing_ref(c) == expected


def test_routing_ref_ignores_other_extensions() -> None:
    ext = AgentExtension(uri="urn:example:routing")
    ext.params.update({"agentRef": "o/u/a"})
    assert routing_ref(card(capabilities=AgentCapabilities(extensions=[ext]))) is None


# -- schema ----------------------------------------------------------------------------------

def test_schema_is_a_valid_draft7_schema() -> None:
    schema = agent_card_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


def test_schema_top_level_matches_the_emqx_registry() -> None:
    schema = agent_card_schema()
    camel = {k for k in schema["properties"] if "_" not in k}
    assert camel == EMQX_ALLOWED
    assert set(schema["required"]) == EMQX_REQUIRED


def test_every_nested_object_is_closed() -> None:
    for name, definition in agent_card_schema()["definitions"].items():
        assert definition.get("additionalProperties") is False, name


def test_valid_card_has_no_problems() -> None:
    assert card_problems(valid_dict()) == []


@pytest.mark.parametrize("field", sorted(EMQX_REQUIRED))
def test_missing_required_field(field: str) -> None:
    data = valid_dict()
    del data[field]
    problems = card_problems(data)
    assert problems
    assert any(field in p for p in problems)


@pytest.mark.parametrize("field", ["url", "preferredTransport", "protocolVersion",
                                   "additionalInterfaces", "x-custom", "kind", "tenant"])
def test_unknown_top_level_field(field: str) -> None:
    problems = card_problems({**valid_dict(), field: "x"})
    assert problems
    assert any(field in p for p in problems)


@pytest.mark.parametrize(("path", "extra"), [
    (("capabilities",), {"stateTransitionHistory": True}),
    (("skills", 0), {"mimeType": "text/plain"}),
    (("supportedInterfaces", 0), {"transport": "MQTT"}),
])
def test_unknown_nested_field(path: tuple[str | int, ...], extra: dict[str, Any]) -> None:
    data = valid_dict()
    target: Any = data
    for key in path:
        target = target[key]
    target.update(extra)
    assert card_problems(data)


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d["skills"][0].pop("tags"), "tags"),
    (lambda d: d["skills"][0].update(tags=[]), "at least one tag"),
    (lambda d: d["skills"][0].pop("id"), "id"),
    (lambda d: d["supportedInterfaces"][0].pop("protocolBinding"), "protocolBinding"),
    (lambda d: d["supportedInterfaces"][0].pop("url"), "url"),
    (lambda d: d.update(provider={"url": "https://example.com"}), "organization"),
    (lambda d: d.update(signatures=[{"protected": "x"}]), "signature"),
    (lambda d: d.update(skills="none"), "skills"),
    (lambda d: d.update(name=5), "name"),
])
def test_nested_rules(mutate: Any, needle: str) -> None:
    data = valid_dict()
    mutate(data)
    problems = card_problems(data)
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize("data", [[], "card", 5, None])
def test_non_object_cards_have_problems(data: Any) -> None:
    assert card_problems(data)


def test_optional_fields_are_allowed() -> None:
    data = {**valid_dict(), "provider": {"url": "https://e.com", "organization": "E"},
            "documentationUrl": "https://e.com/docs", "iconUrl": "https://e.com/i.png",
            "signatures": [{"protected": "p", "signature": "s"}],
            "securitySchemes": {"bearer": {"httpAuthSecurityScheme": {"scheme": "bearer"}}},
            "securityRequirements": [{"schemes": {"bearer": {"list": []}}}]}
    data["supportedInterfaces"][0]["tenant"] = "com.example/factory-a"
    data["capabilities"] = {"streaming": True, "pushNotifications": False,
                            "extendedAgentCard": False,
                            "extensions": [{"uri": "urn:x", "params": {"any": [1, {"a": 2}]}}]}
    assert card_problems(data) == []


def test_a_0_3_style_card_is_rejected() -> None:
    legacy = {"name": "a", "description": "d", "url": "http://x/a2a",
              "preferredTransport": "JSONRPC", "protocolVersion": "0.3.0",
              "additionalInterfaces": [], "version": "1", "capabilities": {},
              "defaultInputModes": ["t"], "defaultOutputModes": ["t"],
              "skills": [{"id": "s", "name": "S", "description": "d", "tags": ["x"]}]}
    problems = card_problems(legacy)
    assert any("supportedInterfaces" in p for p in problems)
    assert any("preferredTransport" in p for p in problems)
    with pytest.raises(InvalidCardError):
        parse_card(legacy)


# -- the EMQX SDK's cards ---------------------------------------------------------------------

def test_emqx_sdk_card_fails_only_for_its_untagged_default_skill() -> None:
    emqx = build_card(name="Echo Agent", description="Echoes", url="mqtt://broker:1883")
    assert card_problems(emqx) == ["skills/0: 'tags' is a required property"]
    tagged = copy.deepcopy(emqx)
    tagged["skills"][0]["tags"] = ["echo"]
    assert card_problems(tagged) == []


def test_emqx_sdk_card_is_usable_when_read_leniently() -> None:
    emqx = build_card(name="Echo Agent", description="Echoes", url="mqtt://broker:1883")
    with pytest.raises(InvalidCardError, match="tags"):
        parse_card(json.dumps(emqx).encode())
    parsed = parse_card(json.dumps(emqx).encode(), validate=False)
    iface = find_mqtt_interface(parsed)
    assert iface is not None
    assert iface.protocol_binding == "MQTTv5+JSONRPCv2"
    assert iface.protocol_version == "1.0.0"
    assert routing_ref(parsed) is None   # v0.1 cards route by their discovery topic


def test_emqx_sdk_card_with_explicit_skills_passes() -> None:
    emqx = build_card(name="Echo", description="d", url="mqtt://b:1883",
                      skills=[{"id": "e", "name": "E", "description": "d", "tags": ["x"]}])
    assert card_problems(emqx) == []
