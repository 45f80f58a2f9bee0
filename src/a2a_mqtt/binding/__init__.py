"""The A2A-over-MQTT binding as pure functions and value objects (no I/O).

This package must not import asyncio, sockets, subprocesses or the MQTT client
library; ``tests/unit/binding/test_purity.py`` enforces it.
"""

from a2a_mqtt.binding.card import (
    BINDING_ALIASES,
    BINDING_URI,
    PROTOCOL_VERSION,
    ROUTING_EXTENSION_URI,
    card_problems,
    encode_card,
    find_mqtt_interface,
    is_mqtt_binding,
    parse_card,
    prepare_card,
    routing_ref,
)
from a2a_mqtt.binding.card_schema import agent_card_schema
from a2a_mqtt.binding.codes import (
    BindingError,
    BindingErrorKind,
    RequestExpiredError,
    ResponderUnavailableError,
    TransportProtocolError,
    error_from_object,
    error_object,
)
from a2a_mqtt.binding.envelope import METHODS, STREAMING_METHODS, RpcRequest, RpcResponse
from a2a_mqtt.binding.topics import (
    AgentRef,
    discovery_filter,
    discovery_filters,
    discovery_topic,
    parse_discovery_topic,
    pool_subscription,
    reply_topic,
    request_topic,
    share_group,
)

__all__ = [
    "BINDING_ALIASES",
    "BINDING_URI",
    "METHODS",
    "PROTOCOL_VERSION",
    "ROUTING_EXTENSION_URI",
    "STREAMING_METHODS",
    "AgentRef",
    "BindingError",
    "BindingErrorKind",
    "RequestExpiredError",
    "ResponderUnavailableError",
    "RpcRequest",
    "RpcResponse",
    "TransportProtocolError",
    "agent_card_schema",
    "card_problems",
    "discovery_filter",
    "discovery_filters",
    "discovery_topic",
    "encode_card",
    "error_from_object",
    "error_object",
    "find_mqtt_interface",
    "is_mqtt_binding",
    "parse_card",
    "parse_discovery_topic",
    "pool_subscription",
    "prepare_card",
    "reply_topic",
    "request_topic",
    "routing_ref",
    "share_group",
]
