"""The MCP-over-MQTT topic layout (spec 2025-03-26, 'Message Topics')."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mcp import topics as T
from a2a_mqtt.mcp.topics import ParsedTopic, TopicKind

SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)

ids = st.text(st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs",)),
              min_size=1, max_size=20).filter(lambda s: s not in T.RESERVED_SERVER_IDS)
levels = st.text(st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs",)),
                 min_size=1, max_size=10)
names = st.lists(levels, min_size=1, max_size=4).map("/".join)


def test_topics_match_the_spec_table() -> None:
    assert T.server_control("s1", "a/b") == "$mcp-server/s1/a/b"
    assert T.server_capability("s1", "a/b") == "$mcp-server/capability/s1/a/b"
    assert T.server_presence("s1", "a/b") == "$mcp-server/presence/s1/a/b"
    assert T.client_presence("c1") == "$mcp-client/presence/c1"
    assert T.client_capability("c1") == "$mcp-client/capability/c1"
    assert T.rpc("c1", "s1", "a/b") == "$mcp-rpc/c1/s1/a/b"
    assert T.server_presence_filter("a/#") == "$mcp-server/presence/+/a/#"


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "x\x00"])
def test_ids_refuse_separators_and_wildcards(bad: str) -> None:
    with pytest.raises(ConfigError):
        T.check_id(bad)


@pytest.mark.parametrize("word", ["capability", "presence"])
def test_reserved_words_cannot_be_server_ids(word: str) -> None:
    with pytest.raises(ConfigError, match="collide"):
        T.check_server_id(word)


@pytest.mark.parametrize("bad", ["", "a//b", "/a", "a/", "a/+", "a/#", "a+b"])
def test_server_names_are_wildcard_free_hierarchies(bad: str) -> None:
    with pytest.raises(ConfigError):
        T.check_server_name(bad)


@pytest.mark.parametrize("good", ["#", "a/#", "a/+/c", "+", "a/b"])
def test_name_filters_accept_mqtt_filters(good: str) -> None:
    assert T.check_name_filter(good) == good


@pytest.mark.parametrize("bad", ["", "a/#/b", "a#", "a+/b", "a//b"])
def test_name_filters_refuse_malformed_filters(bad: str) -> None:
    with pytest.raises(ConfigError):
        T.check_name_filter(bad)


@pytest.mark.parametrize(("topic", "expected"), [
    ("$mcp-server/s1/a/b", ParsedTopic(TopicKind.SERVER_CONTROL, "s1", "a/b")),
    ("$mcp-server/capability/s1/a", ParsedTopic(TopicKind.SERVER_CAPABILITY, "s1", "a")),
    ("$mcp-server/presence/s1/a/b/c", ParsedTopic(TopicKind.SERVER_PRESENCE, "s1", "a/b/c")),
    ("$mcp-client/presence/c1", ParsedTopic(TopicKind.CLIENT_PRESENCE, client_id="c1")),
    ("$mcp-client/capability/c1", ParsedTopic(TopicKind.CLIENT_CAPABILITY, client_id="c1")),
    ("$mcp-rpc/c1/s1/a/b", ParsedTopic(TopicKind.RPC, "s1", "a/b", "c1")),
])
def test_parse_known_topics(topic: str, expected: ParsedTopic) -> None:
    assert T.parse(topic) == expected


@pytest.mark.parametrize("topic", [
    "", "$mcp-server", "$mcp-server/s1", "$mcp-server/presence/s1", "$mcp-client/presence",
    "$mcp-client/other/c1", "$mcp-client/presence/c1/x", "$mcp-rpc/c1/s1", "$mcp-rpc/c1/s1/a//b",
    "a2a/v1/request/x", "$mcp-server/s1/a/+", "$mcp-rpc/c+/s1/a",
])
def test_parse_refuses_other_topics(topic: str) -> None:
    assert T.parse(topic) is None


@SETTINGS
@given(ids, ids, names)
def test_built_topics_parse_back(client_id: str, server_id: str, name: str) -> None:
    assert T.parse(T.server_control(server_id, name)) == ParsedTopic(
        TopicKind.SERVER_CONTROL, server_id, name)
    assert T.parse(T.server_presence(server_id, name)) == ParsedTopic(
        TopicKind.SERVER_PRESENCE, server_id, name)
    assert T.parse(T.server_capability(server_id, name)) == ParsedTopic(
        TopicKind.SERVER_CAPABILITY, server_id, name)
    assert T.parse(T.rpc(client_id, server_id, name)) == ParsedTopic(
        TopicKind.RPC, server_id, name, client_id)
    assert T.parse(T.client_presence(client_id)) == ParsedTopic(
        TopicKind.CLIENT_PRESENCE, client_id=client_id)


@SETTINGS
@given(st.text(max_size=80))
def test_parse_never_raises(topic: str) -> None:
    parsed = T.parse(topic)
    if parsed is not None:
        assert parsed.kind in TopicKind
