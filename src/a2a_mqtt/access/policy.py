"""The access policy, derived from the binding's topic rules (docs/binding.md §2.3).

:func:`rules_for` turns one :class:`Identity` into the complete list of what it may
do; everything else is denied. Pure: no I/O, the same identity always yields the
same rules in the same order, so the exports built on it are golden-testable.

Three kinds of access, matching what a broker can check:

* ``publish``: the topic is a filter the published topic must match;
* ``subscribe``: the topic is a pattern the subscription filter must match when
  read as a topic (so ``$a2a/v1/reply/o/u/r/#`` admits ``.../r/#`` and ``.../r/x``
  but not ``$a2a/v1/reply/#``);
* ``receive``: the topic is a filter every *delivered* message must match. This is
  the enforcement that counts: Mosquitto 2.0.11 answers an ACL-denied SUBSCRIBE
  with a granted SUBACK, and a broad subscription is harmless when delivery is
  filtered. Discovery subscriptions are therefore admitted broadly (clients
  subscribe ``$a2a/v1/discovery/+/+/+`` by default) while delivery is scoped.

Scope: an identity reaches its own organisation; each :class:`Grant` adds an
organisation, a unit, an agent or a pool (``*``: every organisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from a2a_mqtt.access.identity import ALL_ORGS, Grant, Identity
from a2a_mqtt.binding.topics import PREFIX, share_group

__all__ = ["Access", "Rule", "allows", "rules_for", "scope_paths", "topic_matches"]

Access = Literal["publish", "subscribe", "receive"]

DISCOVERY: Final = f"{PREFIX}/discovery"
REQUEST: Final = f"{PREFIX}/request"
REPLY: Final = f"{PREFIX}/reply"
EVENT: Final = f"{PREFIX}/event"
#: What an agent's broker watch reads (server/brokerwatch.py).
SYS_DROPPED: Final = "$SYS/broker/publish/messages/dropped"
CONTROL: Final = "$CONTROL/dynamic-security/#"
#: The discovery filters clients subscribe by default (binding/topics.discovery_filters).
_BROAD_DISCOVERY: Final = (f"{DISCOVERY}/+/+/+", f"{DISCOVERY}/+/+/pool/+")


@dataclass(frozen=True, slots=True)
class Rule:
    """One permission: ``access`` on ``topic`` (a filter or pattern, see the module doc)."""

    access: Access
    topic: str


def scope_paths(identity: Identity) -> tuple[str, ...]:
    """The ``org/unit/x`` filter paths (agents and pools) this identity may reach."""
    grants = (Grant(identity.ref.org), *identity.grants)
    if any(g.org == ALL_ORGS for g in grants):
        grants = (Grant(ALL_ORGS),)
    paths: list[str] = []
    for grant in grants:
        if grant.target is not None:
            new = [_path(grant)]
        else:
            org = "+" if grant.org == ALL_ORGS else grant.org
            unit = grant.unit or "+"
            new = [f"{org}/{unit}/+", f"{org}/{unit}/pool/+"]
        paths += [p for p in new if p not in paths]
    return tuple(paths)


def _path(grant: Grant) -> str:
    return str(grant.target)


def rules_for(identity: Identity) -> tuple[Rule, ...]:
    """Everything ``identity`` may do; anything not listed is denied."""
    role = identity.role
    if role == "agent":
        return _agent(identity)
    if role == "admin":
        return (Rule("publish", CONTROL), Rule("subscribe", CONTROL), Rule("receive", CONTROL),
                Rule("subscribe", "$SYS/#"), Rule("receive", "$SYS/#"))
    rules = list(_own_replies(identity))
    scope = scope_paths(identity)
    if role in ("requester", "gateway"):
        rules += [Rule("publish", f"{REQUEST}/{p}") for p in scope]
        # Its own key card, for ubsp-v1 (docs/binding.md §8.4): agents learn its key there.
        rules.append(Rule("publish", f"{DISCOVERY}/{identity.ref}"))
    if role == "registry":
        rules += [Rule("publish", f"{DISCOVERY}/{p}") for p in scope]
    rules += [Rule("subscribe", f) for f in _BROAD_DISCOVERY]
    rules += [Rule("receive", f"{DISCOVERY}/{p}") for p in scope]
    if role == "dashboard":
        events = [f"{EVENT}/{p}" for p in scope if "/pool/" not in p]
        rules += [Rule("subscribe", f"{EVENT}/+/+/+"), Rule("subscribe", f"{EVENT}/+/+/+/#")]
        rules += [Rule("receive", e) for e in events]
        rules += [Rule("receive", f"{e}/#") for e in events]
    return tuple(rules)


def _own_replies(identity: Identity) -> tuple[Rule, ...]:
    """A client's private reply subtree: it subscribes there, and publishes its own
    barrier messages there (client/requester.py)."""
    subtree = f"{REPLY}/{identity.ref}/#"
    return (Rule("publish", subtree), Rule("subscribe", subtree), Rule("receive", subtree))


def _agent(identity: Identity) -> tuple[Rule, ...]:
    ref = identity.ref
    unit = f"{ref.org}/{ref.unit}"
    own_event = f"{EVENT}/{ref}"
    rules = [
        Rule("publish", f"{DISCOVERY}/{ref}"),
        *(Rule("publish", f"{DISCOVERY}/{unit}/pool/{p}") for p in identity.pools),
        # Replies go wherever a request's Response Topic says, but only under reply/.
        Rule("publish", f"{REPLY}/#"),
        Rule("publish", own_event),
        Rule("publish", f"{own_event}/#"),
        Rule("subscribe", f"{REQUEST}/{ref}"),
        Rule("receive", f"{REQUEST}/{ref}"),
    ]
    for pool in identity.pools:
        topic = f"{REQUEST}/{unit}/pool/{pool}"
        group = share_group(ref.org, ref.unit, pool)
        rules += [Rule("subscribe", topic), Rule("subscribe", f"$share/{group}/{topic}"),
                  Rule("receive", topic)]
    rules += [Rule("subscribe", f"{own_event}/#"), Rule("subscribe", f"$share/+/{own_event}/#"),
              Rule("receive", f"{own_event}/#")]
    # Cards in scope: pool members watch their peers' (a member that goes offline leaves
    # its turns to the others), and an agent under ubsp-v1 learns requesters' keys there.
    rules += [Rule("subscribe", f) for f in _BROAD_DISCOVERY]
    rules += [Rule("receive", f"{DISCOVERY}/{p}") for p in scope_paths(identity)]
    rules += [Rule("subscribe", SYS_DROPPED), Rule("receive", SYS_DROPPED)]
    return tuple(rules)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching: does ``topic_filter`` (``+``, ``#``) match ``topic``?

    A filter starting with a wildcard never matches a ``$`` topic (MQTT 5 §4.7.2).
    For a subscribe rule, ``topic`` is the requested filter read as a topic, so its
    ``+``/``#`` only match a rule's wildcard or the same character.
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    want = topic_filter.split("/")
    have = topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return i == len(want) - 1
        if i >= len(have) or (level != "+" and level != have[i]):
            return False
    return len(have) == len(want)


def allows(identity: Identity, access: Access, topic: str) -> bool:
    """Whether the policy lets ``identity`` do ``access`` on ``topic`` (the broker's check)."""
    return any(r.access == access and topic_matches(r.topic, topic)
               for r in rules_for(identity))
