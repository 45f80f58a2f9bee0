"""Serving a2a-sdk agents over MQTT."""

from a2a_mqtt.server.agent import AgentServer
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.server.host import AgentHost, serve_agents

__all__ = ["AgentConfig", "AgentHost", "AgentServer", "serve_agents"]
