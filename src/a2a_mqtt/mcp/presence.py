"""What the retained presence messages say is online. Pure: no I/O.

A server name is online while any of its instances is; an empty payload on an
instance's presence topic removes that instance. Anything else that is not a
``notifications/server/online`` is ignored (it proves nothing either way).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from a2a_mqtt.mcp import topics, wire

__all__ = ["Chooser", "PresenceBook", "PresenceChange", "PresenceEvent", "random_instance"]

Chooser = Callable[[Sequence[wire.ServerOnline]], wire.ServerOnline]
"""Picks the instance a new session goes to."""


class PresenceChange(enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    change: PresenceChange
    server_id: str
    server_name: str
    info: wire.ServerOnline | None = None


class PresenceBook:
    """Instances by server name, updated from presence messages."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, wire.ServerOnline]] = {}

    def update(self, topic: str, payload: bytes) -> PresenceEvent | None:
        """Apply one presence message; return what changed, or ``None``."""
        parsed = topics.parse(topic)
        if parsed is None or parsed.kind is not topics.TopicKind.SERVER_PRESENCE:
            return None
        assert parsed.server_id is not None
        assert parsed.server_name is not None
        sid, name = parsed.server_id, parsed.server_name
        if not payload:
            instances = self._by_name.get(name, {})
            if instances.pop(sid, None) is None:
                return None
            if not instances:
                del self._by_name[name]
            return PresenceEvent(PresenceChange.OFFLINE, sid, name)
        info = wire.decode_online(sid, name, payload)
        if info is None:
            return None
        self._by_name.setdefault(name, {})[sid] = info
        return PresenceEvent(PresenceChange.ONLINE, sid, name, info)

    def instances(self, server_name: str) -> list[wire.ServerOnline]:
        """The live instances of ``server_name``, ordered by server id."""
        return sorted(self._by_name.get(server_name, {}).values(), key=lambda i: i.server_id)

    def is_online(self, server_name: str, server_id: str | None = None) -> bool:
        instances = self._by_name.get(server_name, {})
        return bool(instances) if server_id is None else server_id in instances

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def all(self) -> list[wire.ServerOnline]:
        return [i for name in self.names() for i in self.instances(name)]


def random_instance(instances: Sequence[wire.ServerOnline]) -> wire.ServerOnline:
    """The default choice among live instances: uniform, so sessions spread out."""
    return random.choice(list(instances))
