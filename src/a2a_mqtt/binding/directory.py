"""What a directory of agents says about one agent: pure values shared by every reader.

:class:`~a2a_mqtt.client.discovery.Discovery` (retained cards on MQTT) and
:class:`~a2a_mqtt.registry.client.RegistryClient` (a registry over HTTP) both
answer with these, so neither reader depends on the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding.topics import AgentRef

__all__ = ["AgentEntry", "DiscoveryEvent", "EventKind"]

EventKind = Literal["added", "updated", "online", "offline", "removed", "invalid"]


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """What the directory knows of one agent."""

    ref: AgentRef
    card: AgentCard | None
    status: str
    status_source: str
    problems: tuple[str, ...] = ()
    updated_at: float = field(default_factory=time.time)

    @property
    def online(self) -> bool:
        return self.status == "online"

    @property
    def name(self) -> str:
        return self.card.name if self.card is not None else ""

    @property
    def skill_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.card.skills) if self.card is not None else ()

    @property
    def tags(self) -> frozenset[str]:
        if self.card is None:
            return frozenset()
        return frozenset(t for s in self.card.skills for t in s.tags)

    def matches(self, *, org: str | None = None, unit: str | None = None,
                skill: str | None = None, tag: str | None = None, name: str | None = None,
                online: bool | None = None) -> bool:
        """True if the entry passes every filter given (None means any)."""
        return ((org is None or self.ref.org == org)
                and (unit is None or self.ref.unit == unit)
                and (skill is None or skill in self.skill_ids)
                and (tag is None or tag.lower() in {t.lower() for t in self.tags})
                and (name is None or name.lower() in self.name.lower())
                and (online is None or self.online == online))


@dataclass(frozen=True, slots=True)
class DiscoveryEvent:
    """A change in the directory; ``entry`` is the state after it."""

    kind: EventKind
    entry: AgentEntry
