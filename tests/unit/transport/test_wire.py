"""Our value objects <-> mqtt5 packets (a2a_mqtt.transport._wire), through the wire bytes."""

from __future__ import annotations

import mqtt5
import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport import BrokerURL, ConnectOptions, PublishProperties, Subscription, Will
from a2a_mqtt.transport._wire import (
    connect_packet,
    incoming_properties,
    publish_packet,
    topic_filter,
    validate_topic,
)

text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)
properties = st.builds(
    PublishProperties,
    response_topic=st.none() | text.filter(lambda t: t and not set(t) & set("+#")),
    correlation_data=st.none() | st.binary(max_size=40),
    content_type=st.none() | text,
    payload_format_utf8=st.sampled_from([None, True]),
    message_expiry_interval=st.none() | st.integers(0, 2**32 - 1),
    user_properties=st.lists(st.tuples(text, text), max_size=4).map(tuple),
)


def round_trip(packet: mqtt5.PublishPacket) -> mqtt5.PublishPacket:
    data = packet.write()
    decoded, used = mqtt5.read(memoryview(data))
    assert used == len(data)
    assert isinstance(decoded, mqtt5.PublishPacket)
    return decoded


@given(props=properties, qos=st.sampled_from([0, 1, 2]), retain=st.booleans(),
       payload=st.binary(max_size=64))  # fmt: skip
def test_publish_properties_survive_the_wire(
    props: PublishProperties, qos: int, retain: bool, payload: bytes
) -> None:
    pid = None if qos == 0 else 7
    packet = publish_packet("a/b", payload, qos=qos, retain=retain, properties=props,
                            packet_id=pid)  # fmt: skip
    decoded = round_trip(packet)
    assert (decoded.topic, decoded.payload, int(decoded.qos), decoded.retain) == (
        "a/b", payload, qos, retain)  # fmt: skip
    assert decoded.packet_id == pid
    assert incoming_properties(decoded) == props


def test_absent_properties_stay_absent_and_false_pfi_is_the_default() -> None:
    bare = publish_packet("t", b"", qos=0, retain=False, properties=None)
    assert bare.write() == b"\x30\x04\x00\x01t\x00"  # property length 0: nothing sent
    assert incoming_properties(round_trip(bare)) == PublishProperties()
    flagged = PublishProperties(payload_format_utf8=False)
    same = publish_packet("t", b"", qos=0, retain=False, properties=flagged)
    assert incoming_properties(round_trip(same)) == PublishProperties()


def test_duplicate_flag_is_set_on_resend() -> None:
    packet = publish_packet("t", b"x", qos=1, retain=False, properties=None, packet_id=3,
                            duplicate=True)  # fmt: skip
    assert packet.write()[0] == 0x3A  # PUBLISH, DUP, QoS 1
    assert round_trip(packet).duplicate


@pytest.mark.parametrize("topic", ["", "a/+", "a/#", "#", "a\x00b"])
def test_invalid_topics_are_config_errors(topic: str) -> None:
    with pytest.raises(ConfigError):
        validate_topic(topic)


def test_codec_refusals_become_config_errors() -> None:
    too_long = PublishProperties(correlation_data=b"x" * 70000)
    with pytest.raises(ConfigError, match="cannot publish to 't'"):
        publish_packet("t", b"", qos=0, retain=False, properties=too_long)
    with pytest.raises(ConfigError):
        publish_packet("t", b"", qos=0, retain=False,
                       properties=PublishProperties(message_expiry_interval=2**33))  # fmt: skip


def test_connect_packet_carries_the_options() -> None:
    will = Will("status/me", b"gone", qos=1, retain=True, delay_interval=5,
                properties=PublishProperties(content_type="text/plain"))  # fmt: skip
    options = ConnectOptions(
        url=BrokerURL.parse("mqtt://u:p@h"), client_id="c", keepalive=12,
        session_expiry_interval=300, will=will, max_inflight=70000,
        user_properties=(("MCP-COMPONENT-TYPE", "mcp-server"), ("MCP-META", "a"),
                         ("MCP-META", "b")),
    )  # fmt: skip
    data = connect_packet(options, clean_start=False).write()
    decoded, _ = mqtt5.read(memoryview(data))
    assert isinstance(decoded, mqtt5.ConnectPacket)
    assert (decoded.client_id, decoded.username, decoded.password) == ("c", "u", b"p")
    assert (decoded.clean_start, decoded.keep_alive, decoded.session_expiry_interval) == (
        False, 12, 300)  # fmt: skip
    assert decoded.receive_max == 65535  # max_inflight, capped to what MQTT can say
    assert decoded.user_properties == list(options.user_properties)
    assert decoded.will is not None
    assert (decoded.will.topic, decoded.will.payload, decoded.will.retain) == (
        "status/me", b"gone", True)  # fmt: skip
    assert (decoded.will.will_delay_interval, decoded.will.content_type) == (5, "text/plain")


def test_options_credentials_win_over_the_url() -> None:
    options = ConnectOptions(url=BrokerURL.parse("mqtt://u:p@h"), client_id="c",
                             username="v", password="q")  # fmt: skip
    packet = connect_packet(options, clean_start=True)
    assert (packet.username, packet.password, packet.clean_start) == ("v", b"q", True)
    assert connect_packet(ConnectOptions(url=BrokerURL.parse("h"), client_id="c"),
                          clean_start=True).user_properties == []  # fmt: skip


def test_subscription_options_reach_the_subscribe_packet() -> None:
    sub = Subscription("$share/g/a/#", qos=2, no_local=True, retain_as_published=True)
    packet = mqtt5.SubscribePacket(1, [topic_filter(sub), topic_filter(Subscription("b"))])
    decoded, _ = mqtt5.read(memoryview(packet.write()))
    assert isinstance(decoded, mqtt5.SubscribePacket)
    first, second = decoded.topic_filters
    assert (first.pattern, int(first.max_qos), first.no_local, first.retain_as_published) == (
        "$share/g/a/#", 2, True, True)  # fmt: skip
    assert (second.pattern, int(second.max_qos), second.no_local) == ("b", 1, False)
    assert second.retain_as_published is False  # the codec's default is True: we say False
    assert int(second.retain_handling) == 0
