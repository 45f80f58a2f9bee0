"""Identifiers, agent references and the ``$a2a/v1`` topic space.

Rules (docs/binding.md §2): every identifier matches ``^[A-Za-z0-9_.-]+$``;
an agent is ``org/unit/agent`` and a pool is ``org/unit/pool/POOL``; the MQTT
Client ID of an agent is its ``org/unit/agent`` string. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from a2a_mqtt.errors import ConfigError

__all__ = [
    "PREFIX",
    "REPLY_PREFIX",
    "AgentRef",
    "discovery_filter",
    "discovery_filters",
    "discovery_topic",
    "event_topic",
    "is_valid_identifier",
    "parse_discovery_topic",
    "pool_subscription",
    "reply_filter",
    "reply_topic",
    "reply_topic_problem",
    "request_topic",
    "share_group",
    "validate_identifier",
]

PREFIX = "$a2a/v1"
REPLY_PREFIX = f"{PREFIX}/reply/"
_TOPIC_MAX_BYTES = 65_535
_IDENT = re.compile(r"[A-Za-z0-9_.-]+")
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9._]")
_GROUP_MAX = 64
_POOL = "pool"


def is_valid_identifier(value: str) -> bool:
    """True if ``value`` is a legal org, unit, agent, pool or group id."""
    return isinstance(value, str) and bool(_IDENT.fullmatch(value))


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` or raise ConfigError naming what was wrong."""
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise ConfigError(f"{what} {value!r} is invalid: use only letters, digits, '_', '.', '-'")
    return value


@dataclass(frozen=True, slots=True, order=True)
class AgentRef:
    """The address of one agent (``org/unit/agent``) or of a pool (``org/unit/pool/ID``)."""

    org: str
    unit: str
    name: str
    pool: bool = False

    def __post_init__(self) -> None:
        validate_identifier(self.org, "org id")
        validate_identifier(self.unit, "unit id")
        validate_identifier(self.name, "pool id" if self.pool else "agent id")

    @classmethod
    def parse(cls, text: str) -> AgentRef:
        """Parse ``org/unit/agent`` or ``org/unit/pool/ID``."""
        parts = text.strip().split("/")
        if len(parts) == 3:
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 4 and parts[2] == _POOL:
            return cls(parts[0], parts[1], parts[3], pool=True)
        raise ConfigError(f"agent reference {text!r} is invalid: expected org/unit/agent "
                          "or org/unit/pool/POOL_ID")

    @property
    def client_id(self) -> str:
        """The MQTT Client ID the profile requires for this agent."""
        if self.pool:
            raise ConfigError("a pool has no Client ID of its own; each member has one")
        return f"{self.org}/{self.unit}/{self.name}"

    def __str__(self) -> str:
        if self.pool:
            return f"{self.org}/{self.unit}/{_POOL}/{self.name}"
        return f"{self.org}/{self.unit}/{self.name}"


def _path(ref: AgentRef) -> str:
    return f"{ref.org}/{ref.unit}/{_POOL}/{ref.name}" if ref.pool else str(ref)


def discovery_topic(ref: AgentRef) -> str:
    """Where the agent's (or pool's) card is retained."""
    return f"{PREFIX}/discovery/{_path(ref)}"


def request_topic(ref: AgentRef) -> str:
    """Where requesters publish requests for the agent or pool."""
    return f"{PREFIX}/request/{_path(ref)}"


def event_topic(ref: AgentRef) -> str:
    """The agent's event topic (not part of request/reply correlation)."""
    return f"{PREFIX}/event/{_path(ref)}"


def reply_topic(requester: AgentRef, suffix: str) -> str:
    """A requester's reply topic; ``suffix`` should be collision resistant."""
    validate_identifier(suffix, "reply suffix")
    return f"{PREFIX}/reply/{requester}/{suffix}"


def reply_topic_problem(topic: str | None) -> str | None:
    """Why a request's Response Topic must not be answered on, or None if it may.

    A responder publishes only under ``$a2a/v1/reply/`` (docs/binding.md §6.6):
    anything else would let a requester aim our replies at another agent's card,
    request queue or at ``$SYS`` (where Mosquitto disconnects the publisher). The
    topic must also be a valid MQTT topic *name*: no wildcards, no U+0000, valid
    UTF-8 of at most 65,535 bytes.
    """
    if not topic:
        return "no Response Topic"
    if not topic.startswith(REPLY_PREFIX) or len(topic) == len(REPLY_PREFIX):
        return f"Response Topic is not under {REPLY_PREFIX}"
    if "#" in topic or "+" in topic:
        return "Response Topic holds a wildcard"
    if "\x00" in topic:
        return "Response Topic holds U+0000"
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return "Response Topic is not valid UTF-8"
    if size > _TOPIC_MAX_BYTES:
        return "Response Topic is longer than 65535 bytes"
    return None


def reply_filter(requester: AgentRef) -> str:
    """Every reply topic of one requester."""
    return f"{PREFIX}/reply/{requester}/#"


def share_group(org: str, unit: str, pool: str) -> str:
    """The deterministic ``$share`` group every member of a pool uses.

    ``a2a.{org}.{unit}.{pool}`` with characters outside ``[A-Za-z0-9._]``
    replaced by ``_``; longer than 64 characters it is truncated and a short
    hash of the full name appended, so two long names stay distinct.
    """
    name = _GROUP_UNSAFE.sub("_", f"a2a.{org}.{unit}.{pool}")
    if len(name) <= _GROUP_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _GROUP_MAX - 9]}.{digest}"


def pool_subscription(ref: AgentRef) -> str:
    """The shared-subscription filter pool members consume."""
    if not ref.pool:
        raise ConfigError(f"{ref} is not a pool reference")
    return f"$share/{share_group(ref.org, ref.unit, ref.name)}/{request_topic(ref)}"


def discovery_filter(org: str | None = None, unit: str | None = None) -> str:
    """A filter for agent cards, optionally narrowed to an org and unit.

    ``$`` topics never match a leading wildcard, so the prefix is always spelt
    out. Pool cards (one level deeper) are matched by a second filter,
    ``.../pool/+``; see :func:`discovery_filters`.
    """
    if unit is not None and org is None:
        raise ConfigError("a unit filter needs an org")
    o = validate_identifier(org, "org id") if org is not None else "+"
    u = validate_identifier(unit, "unit id") if unit is not None else "+"
    return f"{PREFIX}/discovery/{o}/{u}/+"


def discovery_filters(org: str | None = None, unit: str | None = None) -> tuple[str, str]:
    """The two filters that together match every agent card and pool card in scope."""
    agents = discovery_filter(org, unit)
    return agents, agents[:-1] + f"{_POOL}/+"


def parse_discovery_topic(topic: str) -> AgentRef | None:
    """The agent or pool a discovery topic names, or None if it names neither."""
    head = f"{PREFIX}/discovery/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    try:
        if len(parts) == 3:
            return AgentRef(parts[0], parts[1], parts[2])
        if len(parts) == 4 and parts[2] == _POOL:
            return AgentRef(parts[0], parts[1], parts[3], pool=True)
    except ConfigError:
        return None
    return None
