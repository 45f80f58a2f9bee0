"""Configuration of MCP-over-MQTT components: frozen, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp import topics
from a2a_mqtt.mcp.presence import Chooser, random_instance
from a2a_mqtt.transport.base import TransportFactory, default_transport

__all__ = ["DirectoryConfig", "McpClientConfig", "McpServerConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class McpServerConfig:
    """One server instance. ``server_id`` defaults to a fresh random id."""

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    server_name: str
    server_id: str = ""
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    qos: int = 1
    max_message_bytes: int = 1 << 20
    max_sessions: int = 10_000
    session_buffer: int = 256
    transport_factory: TransportFactory = default_transport

    def __post_init__(self) -> None:
        topics.check_server_name(self.server_name)
        if self.server_id:
            topics.check_server_id(self.server_id)
        if self.qos not in (0, 1, 2):
            raise ValueError("qos must be 0, 1 or 2")


@dataclass(frozen=True, slots=True, kw_only=True)
class McpClientConfig:
    """Which server to reach and how. ``client_id`` defaults to a fresh id per session."""

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    server_name: str
    server_id: str | None = None
    client_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    qos: int = 1
    discovery_timeout: float = 10.0
    max_message_bytes: int = 1 << 20
    # Inbound messages the SDK has not read yet; beyond this they are dropped
    # (logged), which the SDK's request timeout then reports.
    buffer: int = 1024
    choose: Chooser = random_instance
    transport_factory: TransportFactory = default_transport

    def __post_init__(self) -> None:
        topics.check_server_name(self.server_name)
        if self.server_id is not None:
            topics.check_server_id(self.server_id)
        if self.client_id is not None:
            topics.check_id(self.client_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryConfig:
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    name_filters: tuple[str, ...] = ("#",)
    meta: dict[str, Any] = field(default_factory=dict)
    transport_factory: TransportFactory = default_transport

    def __post_init__(self) -> None:
        for name_filter in self.name_filters:
            topics.check_name_filter(name_filter)
