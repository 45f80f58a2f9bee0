"""Identifiers, agent references and the $a2a/v1 topic space (docs/binding.md §2)."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest

from a2a_mqtt.binding.topics import (
    PREFIX,
    AgentRef,
    discovery_filter,
    discovery_filters,
    discovery_topic,
    event_topic,
    is_valid_identifier,
    parse_discovery_topic,
    pool_subscription,
    reply_filter,
    reply_topic,
    reply_topic_problem,
    request_topic,
    share_group,
    validate_identifier,
)
from a2a_mqtt.errors import ConfigError

AGENT = AgentRef("com.example", "factory-a", "inspector-1")
POOL = AgentRef("com.example", "factory-a", "inspectors", pool=True)


def mqtt_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 5 §4.7 matching, enough for these tests (no $share handling)."""
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    if topic.startswith("$") and f_levels[0] in ("+", "#"):
        return False
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level not in ("+", t_levels[i])):
            return False
    return len(f_levels) == len(t_levels)


# -- identifiers ---------------------------------------------------------------------------

VALID_IDS = ["a", "A", "0", "com.example", "factory-a", "inspector_1", "a.b-c_D9", "-", ".",
             "x" * 200]
INVALID_IDS = ["", " ", "a b", "a/b", "+", "#", "a+", "a#", "$a2a", "ä", "a\n", "\ta",
               "a:b", "a*b", "pool/x"]


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_identifiers_are_accepted(value: str) -> None:
    assert is_valid_identifier(value)
    assert validate_identifier(value) == value


@pytest.mark.parametrize("value", INVALID_IDS)
def test_invalid_identifiers_are_rejected(value: str) -> None:
    assert not is_valid_identifier(value)
    with pytest.raises(ConfigError, match="org id"):
        validate_identifier(value, "org id")


@pytest.mark.parametrize("value", [None, 1, b"abc", ["a"]])
def test_validate_identifier_rejects_non_strings(value: object) -> None:
    with pytest.raises(ConfigError):
        validate_identifier(value)  # type: ignore[arg-type]


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid"):
        validate_identifier("a/b")


# -- AgentRef --------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "what"), [
    (("bad org", "u", "a"), "org id"),
    (("o", "bad/unit", "a"), "unit id"),
    (("o", "u", "a+"), "agent id"),
])
def test_agent_ref_validates_every_field(fields: tuple[str, str, str], what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        AgentRef(*fields)


def test_pool_ref_names_the_pool_id_in_errors() -> None:
    with pytest.raises(ConfigError, match="pool id"):
        AgentRef("o", "u", "", pool=True)


@pytest.mark.parametrize(("text", "expected"), [
    ("o/u/a", AgentRef("o", "u", "a")),
    ("com.example/factory-a/inspector-1", AGENT),
    ("  o/u/a \n", AgentRef("o", "u", "a")),
    ("o/u/pool/p", AgentRef("o", "u", "p", pool=True)),
    ("com.example/factory-a/pool/inspectors", POOL),
    # An agent may be called "pool": three levels always name an agent.
    ("o/u/pool", AgentRef("o", "u", "pool")),
])
def test_agent_ref_parse(text: str, expected: AgentRef) -> None:
    assert AgentRef.parse(text) == expected


@pytest.mark.parametrize("text", [
    "", "o", "o/u", "o/u/a/b", "o/u/pool/p/x", "o/u/pool/", "o//a", "/o/u/a", "o/u/a/",
    "o/u/+", "o/u/#", "o/u/a b", "$a2a/v1/a", "o/u/POOL/p",
])
def test_agent_ref_parse_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        AgentRef.parse(text)


@pytest.mark.parametrize("text", ["o/u/a", "o/u/pool/p", "o/u/pool", "a.b/c-d/e_f"])
def test_agent_ref_str_round_trips(text: str) -> None:
    assert str(AgentRef.parse(text)) == text
    assert AgentRef.parse(str(AgentRef.parse(text))) == AgentRef.parse(text)


def test_agent_client_id_is_org_unit_agent() -> None:
    assert AGENT.client_id == "com.example/factory-a/inspector-1"
    assert AGENT.client_id == str(AGENT)


def test_pool_has_no_client_id() -> None:
    with pytest.raises(ConfigError, match="pool"):
        _ = POOL.client_id


def test_agent_ref_is_a_frozen_hashable_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        AGENT.name = "other"  # type: ignore[misc]
    assert {AGENT, AgentRef.parse(str(AGENT))} == {AGENT}
    assert AgentRef("o", "u", "a") != AgentRef("o", "u", "a", pool=True)
    assert sorted([AgentRef("b", "u", "a"), AgentRef("a", "u", "b")])[0].org == "a"


# -- topics ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("build", "ref", "expected"), [
    (discovery_topic, AGENT, "$a2a/v1/discovery/com.example/factory-a/inspector-1"),
    (request_topic, AGENT, "$a2a/v1/request/com.example/factory-a/inspector-1"),
    (event_topic, AGENT, "$a2a/v1/event/com.example/factory-a/inspector-1"),
    (discovery_topic, POOL, "$a2a/v1/discovery/com.example/factory-a/pool/inspectors"),
    (request_topic, POOL, "$a2a/v1/request/com.example/factory-a/pool/inspectors"),
    (event_topic, POOL, "$a2a/v1/event/com.example/factory-a/pool/inspectors"),
])
def test_topic_builders(build: object, ref: AgentRef, expected: str) -> None:
    assert callable(build)
    assert build(ref) == expected
    assert expected.startswith(PREFIX + "/")


def test_reply_topic_and_filter() -> None:
    me = AgentRef("a2a-mqtt", "clients", "client-1")
    topic = reply_topic(me, "8c2e4a6f0b1d3e5a")
    assert topic == "$a2a/v1/reply/a2a-mqtt/clients/client-1/8c2e4a6f0b1d3e5a"
    assert reply_filter(me) == "$a2a/v1/reply/a2a-mqtt/clients/client-1/#"
    assert mqtt_matches(reply_filter(me), topic)
    assert not mqtt_matches(reply_filter(me), reply_topic(AgentRef("a2a-mqtt", "clients",
                                                                   "client-2"), "x"))


@pytest.mark.parametrize("suffix", ["", "a/b", "+", "#", "a b"])
def test_reply_topic_rejects_bad_suffix(suffix: str) -> None:
    with pytest.raises(ConfigError, match="reply suffix"):
        reply_topic(AGENT, suffix)


# -- $share group ----------------------------------------------------------------------------

def test_share_group_recommended_form() -> None:
    assert share_group("com.example", "factory-a", "inspectors") == (
        "a2a.com.example.factory_a.inspectors")


def test_share_group_is_deterministic() -> None:
    assert share_group("o", "u", "p") == share_group("o", "u", "p")
    assert share_group("o", "u", "p") != share_group("o", "u", "q")


@pytest.mark.parametrize(("org", "unit", "pool"), [
    ("a-b", "c-d", "e-f"), ("x", "y", "p-1"), ("o" * 40, "u-" * 20, "p" * 30),
])
def test_share_group_uses_only_safe_characters(org: str, unit: str, pool: str) -> None:
    group = share_group(org, unit, pool)
    assert re.fullmatch(r"[A-Za-z0-9._]+", group)
    assert len(group) <= 64


def test_share_group_of_exactly_64_characters_is_kept() -> None:
    pool = "p" * (64 - len("a2a.o.u."))
    group = share_group("o", "u", pool)
    assert len(group) == 64
    assert group == f"a2a.o.u.{pool}"


def test_share_group_longer_than_64_is_truncated_with_hash() -> None:
    pool = "p" * (65 - len("a2a.o.u."))
    full = f"a2a.o.u.{pool}"
    group = share_group("o", "u", pool)
    assert len(group) == 64
    assert group[:55] == full[:55]
    assert group[55] == "."
    assert group[56:] == hashlib.sha256(full.encode()).hexdigest()[:8]


def test_long_share_groups_differing_only_at_the_end_stay_distinct() -> None:
    a = share_group("o" * 30, "u" * 30, "p" * 30 + "a")
    b = share_group("o" * 30, "u" * 30, "p" * 30 + "b")
    assert a[:55] == b[:55]
    assert a != b
    assert len(a) == len(b) == 64


def test_hash_is_taken_over_the_sanitised_name() -> None:
    pool = "p-" * 40
    full = re.sub(r"[^A-Za-z0-9._]", "_", f"a2a.o.u.{pool}")
    assert share_group("o", "u", pool).endswith(hashlib.sha256(full.encode()).hexdigest()[:8])


def test_pool_subscription() -> None:
    assert pool_subscription(POOL) == (
        "$share/a2a.com.example.factory_a.inspectors/"
        "$a2a/v1/request/com.example/factory-a/pool/inspectors")
    assert pool_subscription(POOL).endswith("/" + request_topic(POOL))


def test_pool_subscription_needs_a_pool() -> None:
    with pytest.raises(ConfigError, match="not a pool"):
        pool_subscription(AGENT)


# -- discovery filters -----------------------------------------------------------------------

@pytest.mark.parametrize(("org", "unit", "expected"), [
    (None, None, "$a2a/v1/discovery/+/+/+"),
    ("com.example", None, "$a2a/v1/discovery/com.example/+/+"),
    ("com.example", "factory-a", "$a2a/v1/discovery/com.example/factory-a/+"),
])
def test_discovery_filter(org: str | None, unit: str | None, expected: str) -> None:
    assert discovery_filter(org, unit) == expected
    agents, pools = discovery_filters(org, unit)
    assert agents == expected
    assert pools == expected[:-1] + "pool/+"


def test_discovery_filter_unit_needs_org() -> None:
    with pytest.raises(ConfigError, match="needs an org"):
        discovery_filter(None, "factory-a")


@pytest.mark.parametrize(("org", "unit"), [("a/b", None), ("+", None), ("o", "#"), ("", None)])
def test_discovery_filter_validates(org: str, unit: str | None) -> None:
    with pytest.raises(ConfigError):
        discovery_filter(org, unit)


@pytest.mark.parametrize(("org", "unit"), [(None, None), ("com.example", None),
                                           ("com.example", "factory-a")])
def test_discovery_filters_match_agent_and_pool_cards(org: str | None,
                                                      unit: str | None) -> None:
    agents, pools = discovery_filters(org, unit)
    assert mqtt_matches(agents, discovery_topic(AGENT))
    assert not mqtt_matches(pools, discovery_topic(AGENT))
    assert mqtt_matches(pools, discovery_topic(POOL))
    assert not mqtt_matches(agents, discovery_topic(POOL))
    assert not mqtt_matches(agents, request_topic(AGENT))


def test_discovery_filters_exclude_other_scopes() -> None:
    agents, pools = discovery_filters("com.example", "factory-a")
    assert not mqtt_matches(agents, discovery_topic(AgentRef("com.example", "factory-b", "x")))
    assert not mqtt_matches(pools, discovery_topic(AgentRef("org2", "factory-a", "x", pool=True)))


def test_the_eip_filter_matches_no_card() -> None:
    assert not mqtt_matches("$a2a/v1/discovery/+/+", discovery_topic(AGENT))


def test_leading_wildcards_never_match_dollar_topics() -> None:
    assert not mqtt_matches("#", discovery_topic(AGENT))
    assert not mqtt_matches("+/v1/discovery/+/+/+", discovery_topic(AGENT))
    assert mqtt_matches("$a2a/#", discovery_topic(AGENT))


# -- parse_discovery_topic -------------------------------------------------------------------

@pytest.mark.parametrize("ref", [AGENT, POOL, AgentRef("o", "u", "pool"),
                                 AgentRef("a.b", "c-d", "e_f", pool=True)])
def test_parse_discovery_topic_round_trips(ref: AgentRef) -> None:
    assert parse_discovery_topic(discovery_topic(ref)) == ref


@pytest.mark.parametrize("topic", [
    "",
    "$a2a/v1/discovery",
    "$a2a/v1/discovery/",
    "$a2a/v1/discovery/o",
    "$a2a/v1/discovery/o/u",                  # one level too few
    "$a2a/v1/discovery/o/u/a/b",              # 4 levels, third is not "pool"
    "$a2a/v1/discovery/o/u/pool/p/x",         # too many levels
    "$a2a/v1/discovery/o/u/a/",               # trailing slash: empty fourth level
    "$a2a/v1/discovery/o//a",                 # empty level
    "$a2a/v1/discovery/o/u/a b",              # bad identifier
    "$a2a/v1/discovery/o/u/+",                # a filter, not a topic
    "$a2a/v1/discovery/o/u/pool/+",
    "$a2a/v1/request/o/u/a",                  # another kind
    "$a2a/v2/discovery/o/u/a",                # another version
    "a2a/v1/discovery/o/u/a",                 # no $
    "ns/$a2a/v1/discovery/o/u/a",             # EMQX namespace mount point
    "$share/g/$a2a/v1/discovery/o/u/a",
])
def test_parse_discovery_topic_rejects(topic: str) -> None:
    assert parse_discovery_topic(topic) is None


@pytest.mark.parametrize(("topic", "problem"), [
    ("$a2a/v1/reply/o/u/r/abc", None),
    ("$a2a/v1/reply/x", None),
    ("$a2a/v1/reply/o/u/r/\u00e9\u4e2d", None),
    (None, "no Response Topic"),
    ("", "no Response Topic"),
    ("$a2a/v1/reply/", "not under"),
    ("$a2a/v1/reply", "not under"),
    ("$a2a/v1/discovery/o/u/a", "not under"),
    ("$a2a/v1/request/o/u/a", "not under"),
    ("$SYS/broker/x", "not under"),
    ("#", "not under"),
    ("$share/g/$a2a/v1/reply/x", "not under"),
    ("$a2a/v1/reply/o/+/r", "wildcard"),
    ("$a2a/v1/reply/o/#", "wildcard"),
    ("$a2a/v1/reply/o\x00", "U+0000"),
    ("$a2a/v1/reply/\ud800", "UTF-8"),
    ("$a2a/v1/reply/" + "x" * 65_536, "65535"),
])
def test_reply_topic_rule(topic: str | None, problem: str | None) -> None:
    found = reply_topic_problem(topic)
    assert (found is None) == (problem is None)
    if problem is not None:
        assert found is not None and problem in found
