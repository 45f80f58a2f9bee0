"""Calling MQTT agents: requester, a2a-sdk ClientTransport, discovery."""

from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.discovery import AgentEntry, Discovery, DiscoveryEvent
from a2a_mqtt.client.factory import MQTT_LABELS, A2AMqttClient, register_mqtt_transport
from a2a_mqtt.client.requester import Reply, Requester
from a2a_mqtt.client.retry import OverloadedError
from a2a_mqtt.client.transport import MqttClientTransport

__all__ = [
    "MQTT_LABELS",
    "A2AMqttClient",
    "AgentEntry",
    "Discovery",
    "DiscoveryEvent",
    "MqttClientTransport",
    "OverloadedError",
    "Reply",
    "Requester",
    "RequesterConfig",
    "register_mqtt_transport",
]
