"""a2a-mqtt: A2A (Agent2Agent) over MQTT 5, plugged into the official a2a-sdk.

The names a newcomer needs are importable from here::

    from a2a_mqtt import AgentConfig, ConnectionSettings, run

They resolve lazily (PEP 562): ``import a2a_mqtt`` loads no a2a-sdk, no MQTT
library and no optional extra, and changes nothing in the process (no
environment variable is written; start-up decisions live in
a2a_mqtt/telemetry.py). A name whose extra is not installed fails when it is
first used, naming the extra to install (a2a_mqtt/extras.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from a2a_mqtt._version import __version__

if TYPE_CHECKING:
    from a2a_mqtt.binding.card import card_problems, parse_card, prepare_card
    from a2a_mqtt.binding.directory import AgentEntry, DiscoveryEvent
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.client.config import RequesterConfig
    from a2a_mqtt.client.discovery import Discovery
    from a2a_mqtt.client.factory import A2AMqttClient
    from a2a_mqtt.client.requester import Requester
    from a2a_mqtt.client.retry import OverloadedError
    from a2a_mqtt.connection import ConnectionSettings
    from a2a_mqtt.dashboard.config import DashboardConfig
    from a2a_mqtt.dashboard.server import DashboardServer
    from a2a_mqtt.errors import (
        A2AMqttError,
        BrokerError,
        ConfigError,
        ConnectError,
        DiscoveryError,
        InvalidCardError,
        ProtocolError,
        PublishError,
        StoreError,
        TransportError,
        TransportTimeout,
    )
    from a2a_mqtt.gateway.config import GatewayConfig
    from a2a_mqtt.gateway.expose import ExposeHost
    from a2a_mqtt.gateway.expose_config import ExposeConfig, ExposedAgent
    from a2a_mqtt.gateway.server import GatewayServer
    from a2a_mqtt.mcp.config import McpClientConfig, McpServerConfig
    from a2a_mqtt.mcp.server import McpMqttServer
    from a2a_mqtt.mqtt_types import BrokerURL, TLSConfig
    from a2a_mqtt.registry.client import RegistryClient
    from a2a_mqtt.registry.config import RegistryConfig
    from a2a_mqtt.registry.server import RegistryServer
    from a2a_mqtt.server.agent import AgentServer
    from a2a_mqtt.server.config import AgentConfig
    from a2a_mqtt.server.host import AgentHost, serve_agents
    from a2a_mqtt.service import run

#: Public name -> the module that defines it (imported on first access).
_EXPORTS: dict[str, str] = {
    # Connecting
    "ConnectionSettings": "a2a_mqtt.connection",
    "BrokerURL": "a2a_mqtt.mqtt_types",
    "TLSConfig": "a2a_mqtt.mqtt_types",
    # Serving: Config -> Server -> run(config)
    "AgentConfig": "a2a_mqtt.server.config",
    "AgentServer": "a2a_mqtt.server.agent",
    "AgentHost": "a2a_mqtt.server.host",
    "serve_agents": "a2a_mqtt.server.host",
    "RegistryConfig": "a2a_mqtt.registry.config",
    "RegistryServer": "a2a_mqtt.registry.server",
    "GatewayConfig": "a2a_mqtt.gateway.config",
    "GatewayServer": "a2a_mqtt.gateway.server",
    "ExposeConfig": "a2a_mqtt.gateway.expose_config",
    "ExposedAgent": "a2a_mqtt.gateway.expose_config",
    "ExposeHost": "a2a_mqtt.gateway.expose",
    "McpServerConfig": "a2a_mqtt.mcp.config",
    "McpClientConfig": "a2a_mqtt.mcp.config",
    "McpMqttServer": "a2a_mqtt.mcp.server",
    "DashboardConfig": "a2a_mqtt.dashboard.config",
    "DashboardServer": "a2a_mqtt.dashboard.server",
    "run": "a2a_mqtt.service",
    # Calling
    "RequesterConfig": "a2a_mqtt.client.config",
    "Requester": "a2a_mqtt.client.requester",
    "A2AMqttClient": "a2a_mqtt.client.factory",
    "Discovery": "a2a_mqtt.client.discovery",
    "RegistryClient": "a2a_mqtt.registry.client",
    "AgentEntry": "a2a_mqtt.binding.directory",
    "DiscoveryEvent": "a2a_mqtt.binding.directory",
    "OverloadedError": "a2a_mqtt.client.retry",
    # Cards and addresses
    "AgentRef": "a2a_mqtt.binding.topics",
    "prepare_card": "a2a_mqtt.binding.card",
    "parse_card": "a2a_mqtt.binding.card",
    "card_problems": "a2a_mqtt.binding.card",
    # Errors (a2a_mqtt/errors.py)
    "A2AMqttError": "a2a_mqtt.errors",
    "ConfigError": "a2a_mqtt.errors",
    "TransportError": "a2a_mqtt.errors",
    "ConnectError": "a2a_mqtt.errors",
    "PublishError": "a2a_mqtt.errors",
    "TransportTimeout": "a2a_mqtt.errors",
    "ProtocolError": "a2a_mqtt.errors",
    "InvalidCardError": "a2a_mqtt.errors",
    "BrokerError": "a2a_mqtt.errors",
    "StoreError": "a2a_mqtt.errors",
    "DiscoveryError": "a2a_mqtt.errors",
}

# Literal, so tools read it; tests/unit/test_public_api.py checks it matches _EXPORTS.
__all__ = [
    "A2AMqttClient",
    "A2AMqttError",
    "AgentConfig",
    "AgentEntry",
    "AgentHost",
    "AgentRef",
    "AgentServer",
    "BrokerError",
    "BrokerURL",
    "ConfigError",
    "ConnectError",
    "ConnectionSettings",
    "DashboardConfig",
    "DashboardServer",
    "Discovery",
    "DiscoveryError",
    "DiscoveryEvent",
    "ExposeConfig",
    "ExposeHost",
    "ExposedAgent",
    "GatewayConfig",
    "GatewayServer",
    "InvalidCardError",
    "McpClientConfig",
    "McpMqttServer",
    "McpServerConfig",
    "OverloadedError",
    "ProtocolError",
    "PublishError",
    "RegistryClient",
    "RegistryConfig",
    "RegistryServer",
    "Requester",
    "RequesterConfig",
    "StoreError",
    "TLSConfig",
    "TransportError",
    "TransportTimeout",
    "__version__",
    "card_problems",
    "parse_card",
    "prepare_card",
    "run",
    "serve_agents",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'a2a_mqtt' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        from a2a_mqtt.extras import CAPABILITY_EXTRA, missing_extra  # noqa: PLC0415

        missing = missing_extra(exc, extra=CAPABILITY_EXTRA.get(module.split(".")[1]))
        if missing is None:
            raise
        raise missing from exc
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
