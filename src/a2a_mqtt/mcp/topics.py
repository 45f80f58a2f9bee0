"""The topic layout of MCP over MQTT (emqx/mqtt-for-ai, spec 2025-03-26). Pure: no I/O.

::

    $mcp-server/{server-id}/{server-name}               control (initialize arrives here)
    $mcp-server/capability/{server-id}/{server-name}    server list_changed / resources/updated
    $mcp-server/presence/{server-id}/{server-name}      server presence (retained)
    $mcp-client/presence/{client-id}                    client presence (its Will)
    $mcp-client/capability/{client-id}                  client list_changed
    $mcp-rpc/{client-id}/{server-id}/{server-name}      everything else, both directions

Ids are MQTT client ids without ``/``, ``+`` or ``#``; a server name is a
hierarchy of non-empty levels (``type/sub/name``) without wildcards. The words
``capability`` and ``presence`` cannot be server ids: they would make the
control topic ambiguous with the capability and presence topics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from a2a_mqtt.errors import ConfigError

__all__ = [
    "RESERVED_SERVER_IDS",
    "ParsedTopic",
    "TopicKind",
    "check_id",
    "check_name_filter",
    "check_server_id",
    "check_server_name",
    "client_capability",
    "client_presence",
    "parse",
    "rpc",
    "server_capability",
    "server_control",
    "server_presence",
    "server_presence_filter",
]

SERVER_PREFIX = "$mcp-server"
CLIENT_PREFIX = "$mcp-client"
RPC_PREFIX = "$mcp-rpc"
RESERVED_SERVER_IDS = frozenset({"capability", "presence"})
_MAX_TOPIC_BYTES = 65535


class TopicKind(enum.Enum):
    SERVER_CONTROL = "server-control"
    SERVER_CAPABILITY = "server-capability"
    SERVER_PRESENCE = "server-presence"
    CLIENT_PRESENCE = "client-presence"
    CLIENT_CAPABILITY = "client-capability"
    RPC = "rpc"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """What a topic names; fields a kind does not carry are ``None``."""

    kind: TopicKind
    server_id: str | None = None
    server_name: str | None = None
    client_id: str | None = None


def check_id(value: str, *, what: str = "client id") -> str:
    """Return ``value`` if it is a usable MCP client id or server id, else raise ConfigError."""
    if not value:
        raise ConfigError(f"the {what} is empty")
    bad = {"/", "+", "#", "\x00"} & set(value)
    if bad:
        raise ConfigError(f"the {what} {value!r} contains {''.join(sorted(bad))!r}")
    if len(value.encode()) > 65535:
        raise ConfigError(f"the {what} is too long")
    return value


def check_server_id(value: str) -> str:
    """A server id: a client id that is not one of the reserved words."""
    check_id(value, what="server id")
    if value in RESERVED_SERVER_IDS:
        raise ConfigError(f"{value!r} cannot be a server id: it would collide with a topic word")
    return value


def check_server_name(value: str) -> str:
    """Return ``value`` if it is a valid server name (``a/b/c``, no wildcards), else raise."""
    if not value:
        raise ConfigError("the server name is empty")
    if {"+", "#", "\x00"} & set(value):
        raise ConfigError(f"the server name {value!r} contains a wildcard or NUL")
    if any(not level for level in value.split("/")):
        raise ConfigError(f"the server name {value!r} has an empty level")
    if len(value.encode()) > 60000:
        raise ConfigError("the server name is too long")
    return value


def check_name_filter(value: str) -> str:
    """Return ``value`` if it is a valid MQTT filter over server names (``a/+/c``, ``a/#``)."""
    if not value:
        raise ConfigError("the server name filter is empty")
    levels = value.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ConfigError(f"'#' must be a whole last level in {value!r}")
        if "+" in level and level != "+":
            raise ConfigError(f"'+' must be a whole level in {value!r}")
        if not level:
            raise ConfigError(f"the server name filter {value!r} has an empty level")
    return value


def server_control(server_id: str, server_name: str) -> str:
    return f"{SERVER_PREFIX}/{server_id}/{server_name}"


def server_capability(server_id: str, server_name: str) -> str:
    return f"{SERVER_PREFIX}/capability/{server_id}/{server_name}"


def server_presence(server_id: str, server_name: str) -> str:
    return f"{SERVER_PREFIX}/presence/{server_id}/{server_name}"


def server_presence_filter(name_filter: str) -> str:
    """Every instance of every server whose name matches ``name_filter``."""
    return f"{SERVER_PREFIX}/presence/+/{check_name_filter(name_filter)}"


def client_presence(client_id: str) -> str:
    return f"{CLIENT_PREFIX}/presence/{client_id}"


def client_capability(client_id: str) -> str:
    return f"{CLIENT_PREFIX}/capability/{client_id}"


def rpc(client_id: str, server_id: str, server_name: str) -> str:
    return f"{RPC_PREFIX}/{client_id}/{server_id}/{server_name}"


def _valid_id(value: str) -> bool:
    return bool(value) and not ({"+", "#", "\x00"} & set(value))


def _valid_name(value: str) -> bool:
    try:
        check_server_name(value)
    except ConfigError:
        return False
    return True


def parse(topic: str) -> ParsedTopic | None:
    """Classify a received topic, or ``None`` if it is not an MCP-over-MQTT topic.

    Never raises: topics come from the network. ``$mcp-server/capability/...``
    and ``$mcp-server/presence/...`` are read as capability and presence topics,
    which is why those words are reserved as server ids.
    """
    if len(topic) > _MAX_TOPIC_BYTES:
        return None
    head, _, rest = topic.partition("/")
    parts = rest.split("/")
    if head == SERVER_PREFIX:
        kinds = {"capability": TopicKind.SERVER_CAPABILITY, "presence": TopicKind.SERVER_PRESENCE}
        kind = kinds.get(parts[0])
        if kind is not None:
            parts = parts[1:]
        if len(parts) < 2 or not _valid_id(parts[0]):
            return None
        name = "/".join(parts[1:])
        if not _valid_name(name):
            return None
        return ParsedTopic(kind=kind or TopicKind.SERVER_CONTROL, server_id=parts[0],
                           server_name=name)
    if head == CLIENT_PREFIX:
        kinds = {"capability": TopicKind.CLIENT_CAPABILITY, "presence": TopicKind.CLIENT_PRESENCE}
        if len(parts) != 2 or parts[0] not in kinds or not _valid_id(parts[1]):
            return None
        return ParsedTopic(kind=kinds[parts[0]], client_id=parts[1])
    if head == RPC_PREFIX:
        if len(parts) < 3 or not _valid_id(parts[0]) or not _valid_id(parts[1]):
            return None
        name = "/".join(parts[2:])
        if not _valid_name(name):
            return None
        return ParsedTopic(kind=TopicKind.RPC, client_id=parts[0], server_id=parts[1],
                           server_name=name)
    return None
