"""CONNECT user properties (MCP over MQTT announces MCP-COMPONENT-TYPE/MCP-META there)."""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from a2a_mqtt.transport import BrokerURL, ConnectOptions
from a2a_mqtt.transport._properties import connect_properties


def test_connect_user_properties_are_packed_in_order() -> None:
    options = ConnectOptions(url=BrokerURL.parse("mqtt://h"), client_id="c", user_properties=(
        ("MCP-COMPONENT-TYPE", "mcp-server"), ("MCP-META", '{"v":1}'), ("MCP-META", "again")))
    packed = connect_properties(options).pack()
    decoded = Properties(PacketTypes.CONNECT)
    decoded.unpack(packed)
    assert decoded.UserProperty == [
        ("MCP-COMPONENT-TYPE", "mcp-server"), ("MCP-META", '{"v":1}'), ("MCP-META", "again")]


def test_no_user_properties_by_default() -> None:
    props = connect_properties(ConnectOptions(url=BrokerURL.parse("mqtt://h"), client_id="c"))
    assert not hasattr(props, "UserProperty")
