"""MCP over MQTT (emqx/mqtt-for-ai spec 2025-03-26) on the official ``mcp`` SDK.

Server side: :class:`McpMqttServer` serves an SDK ``Server`` or ``MCPServer``
(or any :data:`SessionHost`) to many client sessions on one MQTT connection.
Client side: :class:`McpMqttTransport` is an ``mcp.client.Transport``;
:func:`open_session` gives an initialized ``ClientSession``; discovery lives in
:mod:`a2a_mqtt.mcp.discovery`. Wire rules and choices: docs/mcp.md.

Every module here imports the SDK as ``mcp`` (absolute imports); no module of
this package may be called ``mcp``.
"""

from a2a_mqtt.mcp.client import McpMqttTransport, open_session
from a2a_mqtt.mcp.config import DirectoryConfig, McpClientConfig, McpServerConfig
from a2a_mqtt.mcp.discovery import ServerDirectory, list_servers
from a2a_mqtt.mcp.server import McpMqttServer

__all__ = [
    "DirectoryConfig",
    "McpClientConfig",
    "McpMqttServer",
    "McpMqttTransport",
    "McpServerConfig",
    "ServerDirectory",
    "list_servers",
    "open_session",
]
