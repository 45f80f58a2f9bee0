"""The HTTP gateway, both ways (docs/gateway.md).

* HTTP -> MQTT: :class:`GatewayServer` (``GatewayConfig -> GatewayServer -> serve()``,
  or ``a2a_mqtt.run(config)``) lets stock A2A clients call MQTT agents over JSON-RPC
  and HTTP+JSON, SSE included, at ``/{org}/{unit}/{agent}``.
* MQTT -> HTTP: :class:`ExposeHost` (``ExposeConfig -> ExposeHost -> serve()``) puts HTTP A2A agents
  on MQTT, with cards, presence and every operation.
"""

from a2a_mqtt.gateway.config import GatewayConfig
from a2a_mqtt.gateway.errors import (
    AgentNotFoundError,
    AgentTimeoutError,
    AgentUnavailableError,
    BadGatewayError,
    GatewayError,
)
from a2a_mqtt.gateway.expose import ExposeHost
from a2a_mqtt.gateway.expose_config import ExposeConfig, ExposedAgent, load_expose_config
from a2a_mqtt.gateway.presence import AgentDirectory, DiscoveryDirectory
from a2a_mqtt.gateway.server import Gateway, GatewayServer

__all__ = [
    "AgentDirectory",
    "AgentNotFoundError",
    "AgentTimeoutError",
    "AgentUnavailableError",
    "BadGatewayError",
    "DiscoveryDirectory",
    "ExposeConfig",
    "ExposeHost",
    "ExposedAgent",
    "Gateway",
    "GatewayConfig",
    "GatewayError",
    "GatewayServer",
    "load_expose_config",
]
