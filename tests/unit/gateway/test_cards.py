"""The card as the gateway serves it."""

from __future__ import annotations

from a2a.types.a2a_pb2 import AgentCard, AgentInterface

from a2a_mqtt.binding.card import BINDING_URI
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.gateway.layout import gateway_card

REF = AgentRef("acme", "lab", "echo")


def _card() -> AgentCard:
    return AgentCard(name="Echo", supported_interfaces=[
        AgentInterface(url="mqtt://b:1883", protocol_binding=BINDING_URI, protocol_version="1.0",
                       tenant="t1"),
        AgentInterface(url="http://elsewhere/a2a", protocol_binding="JSONRPC",
                       protocol_version="1.0"),
    ])


def test_gateway_endpoints_go_first_and_the_agents_own_follow() -> None:
    original = _card()
    served = gateway_card(original, base_url="https://gw.example/", ref=REF)
    assert [(i.protocol_binding, i.url, i.tenant) for i in served.supported_interfaces] == [
        ("JSONRPC", "https://gw.example/acme/lab/echo", "t1"),
        ("HTTP+JSON", "https://gw.example/acme/lab/echo/rest", "t1"),
        (BINDING_URI, "mqtt://b:1883", "t1"),
        ("JSONRPC", "http://elsewhere/a2a", ""),
    ]
    assert len(original.supported_interfaces) == 2  # the input is not modified
    assert served.name == "Echo"


def test_rewriting_a_served_card_again_changes_nothing() -> None:
    once = gateway_card(_card(), base_url="http://gw", ref=REF)
    assert gateway_card(once, base_url="http://gw", ref=REF) == once
