"""The policy derived from the binding's topic rules: what each role may and may not do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.access import Identity
from a2a_mqtt.access.identity import Grant
from a2a_mqtt.access.policy import allows, rules_for, topic_matches
from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic
from a2a_mqtt.errors import ConfigError

ids = st.from_regex(r"[A-Za-z0-9_.-]{1,8}", fullmatch=True)
refs = st.builds(AgentRef, ids, ids, ids)
ROLES = ("agent", "requester", "registry", "gateway", "dashboard", "admin")

AGENT = Identity.parse("acme/line1/press", "agent", pools=("presses",))
OP = Identity.parse("acme/line1/op", "requester")


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), [
    ("a/+/c", "a/b/c", True), ("a/#", "a", True), ("a/#", "a/b/c", True),
    ("a/+", "a/b/c", False), ("+/x", "$a2a/x", False), ("#", "$SYS/x", False),
    ("$a2a/v1/reply/#", "$a2a/v1/reply/o/u/r/s", True),
    ("$a2a/v1/reply/o/u/r/#", "$a2a/v1/reply/#", False),
    ("$a2a/v1/discovery/+/+/+", "$a2a/v1/discovery/+/+/+", True),
])
def test_topic_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


def test_agent_publishes_only_its_card_its_pools_card_and_replies() -> None:
    assert allows(AGENT, "publish", "$a2a/v1/discovery/acme/line1/press")
    assert allows(AGENT, "publish", "$a2a/v1/discovery/acme/line1/pool/presses")
    assert allows(AGENT, "publish", "$a2a/v1/reply/globex/hq/x/abc")
    for topic in ("$a2a/v1/discovery/acme/line1/other", "$a2a/v1/discovery/acme/line1/pool/x",
                  "$a2a/v1/request/acme/line1/press", "$a2a/v1/request/acme/line1/other",
                  "$a2a/v1/event/acme/line1/other", "$SYS/broker/x", "$CONTROL/x"):
        assert not allows(AGENT, "publish", topic), topic


def test_agent_reads_only_its_request_topic_and_its_pool() -> None:
    assert allows(AGENT, "receive", "$a2a/v1/request/acme/line1/press")
    assert allows(AGENT, "receive", "$a2a/v1/request/acme/line1/pool/presses")
    assert allows(AGENT, "subscribe",
                  "$share/a2a.acme.line1.presses/$a2a/v1/request/acme/line1/pool/presses")
    for topic in ("$a2a/v1/request/acme/line1/other", "$a2a/v1/request/acme/line1/pool/x",
                  "$a2a/v1/reply/acme/line1/op/s"):
        assert not allows(AGENT, "receive", topic), topic
    for topic_filter in ("$a2a/v1/request/#", "$a2a/v1/request/acme/line1/+", "$a2a/#"):
        assert not allows(AGENT, "subscribe", topic_filter), topic_filter


def test_requester_reads_only_its_reply_subtree_and_calls_only_its_org() -> None:
    assert allows(OP, "receive", "$a2a/v1/reply/acme/line1/op/abc")
    assert not allows(OP, "receive", "$a2a/v1/reply/acme/line1/other/abc")
    assert not allows(OP, "subscribe", "$a2a/v1/reply/#")
    assert allows(OP, "publish", "$a2a/v1/request/acme/line9/press")
    assert allows(OP, "publish", "$a2a/v1/request/acme/line9/pool/p")
    assert not allows(OP, "publish", "$a2a/v1/request/globex/hq/agent")
    # Its own key card (ubsp-v1), never another's.
    assert allows(OP, "publish", "$a2a/v1/discovery/acme/line1/op")
    assert not allows(OP, "publish", "$a2a/v1/discovery/acme/line1/other")
    assert allows(OP, "receive", "$a2a/v1/discovery/acme/x/y")
    assert not allows(OP, "receive", "$a2a/v1/discovery/globex/x/y")


@pytest.mark.parametrize(("grant", "open_", "closed"), [
    ("globex", "globex/any/agent", "initech/a/b"),
    ("globex/hq", "globex/hq/agent", "globex/lab/agent"),
    ("globex/hq/agent", "globex/hq/agent", "globex/hq/other"),
    ("globex/hq/pool/p", "globex/hq/pool/p", "globex/hq/pool/q"),
    ("*", "initech/a/b", "initech/a/b/c"),
])
def test_grants_open_exactly_their_scope(grant: str, open_: str, closed: str) -> None:
    who = Identity.parse("acme/line1/op", "requester", grants=(grant,))
    assert allows(who, "publish", f"$a2a/v1/request/{open_}")
    assert allows(who, "receive", f"$a2a/v1/discovery/{open_}")
    assert not allows(who, "publish", f"$a2a/v1/request/{closed}")


def test_directory_and_admin_roles() -> None:
    registry = Identity.parse("acme/ops/registry", "registry")
    assert allows(registry, "publish", "$a2a/v1/discovery/acme/x/y")
    assert not allows(registry, "publish", "$a2a/v1/discovery/globex/x/y")
    assert not allows(registry, "publish", "$a2a/v1/request/acme/x/y")
    board = Identity.parse("acme/ops/board", "dashboard")
    assert allows(board, "receive", "$a2a/v1/event/acme/x/y")
    assert not any(r.access == "publish" and not r.topic.startswith("$a2a/v1/reply/acme/ops/")
                   for r in rules_for(board))
    admin = Identity.parse("a2a-mqtt/admin/admin", "admin")
    assert allows(admin, "publish", "$CONTROL/dynamic-security/v1")
    assert not any(allows(admin, a, "$a2a/v1/request/acme/x/y")  # type: ignore[arg-type]
                   for a in ("publish", "subscribe", "receive"))


@settings(derandomize=True, max_examples=100, deadline=None)
@given(me=refs, other=refs, role=st.sampled_from(ROLES))
def test_nobody_writes_another_identitys_card_or_reads_its_requests(
        me: AgentRef, other: AgentRef, role: str) -> None:
    who = Identity.parse(str(me), role)
    if other != me and role != "registry":
        assert not allows(who, "publish", discovery_topic(other))
    if other != me:
        assert not allows(who, "receive", request_topic(other))
        assert not allows(who, "receive", f"$a2a/v1/reply/{other}/s")
    for wildcard in ("$a2a/v1/reply/#", "$a2a/v1/request/#", "$a2a/#", "#"):
        assert not allows(who, "subscribe", wildcard)
    assert not allows(who, "publish", "$SYS/broker/x")


@settings(derandomize=True, max_examples=100, deadline=None)
@given(me=refs, other=refs, role=st.sampled_from(ROLES))
def test_organisations_are_isolated_without_a_grant(me: AgentRef, other: AgentRef,
                                                     role: str) -> None:
    who = Identity.parse(str(me), role)
    if other.org != me.org:
        assert not allows(who, "publish", request_topic(other))
        assert not allows(who, "receive", discovery_topic(other))


def test_bad_identities_and_grants_are_refused() -> None:
    for bad in (lambda: Identity.parse("a/b", "agent"),
                lambda: Identity.parse("a/b/pool/p", "agent"),
                lambda: Identity.parse("a/b/c", "root"),
                lambda: Identity.parse("a/b/c", "requester", pools=("p",)),
                lambda: Grant.parse("a/b/c/d"), lambda: Grant.parse("a+b"),
                lambda: Grant.parse("")):
        with pytest.raises(ConfigError):
            bad()
