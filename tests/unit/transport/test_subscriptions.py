"""Subscription registry: filter validation and topic matching, without a broker."""

from __future__ import annotations

import itertools

import pytest
from paho.mqtt.client import topic_matches_sub

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport import IncomingMessage, Subscription
from a2a_mqtt.transport._subscriptions import Entry, Registry, filter_matches, match_filter


def handler(_message: IncomingMessage) -> None:
    pass


def entry(topic_filter: str) -> Entry:
    return Entry.create(Subscription(topic_filter), handler)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/b/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "$SYS/x", False),
        ("$share/g/a/+", "a/x", True),
        ("$share/g/a/+", "b/x", False),
    ],
)
def test_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert entry(topic_filter).matches(topic, retain=False) is expected


def test_shared_subscriptions_never_see_retained_messages() -> None:
    shared, plain = entry("$share/g/a/#"), entry("a/#")
    assert not shared.matches("a/x", retain=True)
    assert plain.matches("a/x", retain=True)


@pytest.mark.parametrize("bad", ["", "$share/g", "$share//a", "$share/g/", "$share/g+/a"])
def test_invalid_filters(bad: str) -> None:
    with pytest.raises(ConfigError):
        match_filter(bad)


def test_registry_replaces_and_keeps_order() -> None:
    registry = Registry()
    first, second = entry("a/#"), entry("a/b")
    registry.add(first)
    registry.add(second)
    replacement = entry("a/#")
    registry.add(replacement)
    assert registry.entries() == [second, replacement]
    assert registry.matching("a/b", retain=False) == [second, replacement]
    assert registry.discard("a/#", first) is None  # not ours any more
    assert registry.discard("a/#") is replacement
    assert "a/#" not in registry
    assert len(registry) == 1


FILTERS = ["#", "+", "a", "a/#", "a/+", "+/b", "a/b", "a/+/c", "+/+", "+/#", "a/b/#", "/+", "+/",
           "$SYS/#", "$SYS/+", "a//c", "a/+/+/#"]  # fmt: skip
TOPICS = ["a", "a/b", "a/b/c", "a/x/c", "b", "/b", "a/", "/", "$SYS/x", "$SYS", "a//c",
          "a/b/c/d", "x/b", "$a2a/v1/x"]  # fmt: skip


@pytest.mark.parametrize(("topic_filter", "topic"), list(itertools.product(FILTERS, TOPICS)))
def test_filter_matching_agrees_with_paho(topic_filter: str, topic: str) -> None:
    expected = topic_matches_sub(topic_filter, topic)
    assert filter_matches(tuple(topic_filter.split("/")), topic) is expected
