"""PublishProperties <-> paho Properties, both ways, without a broker."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport import BrokerURL, ConnectOptions, PublishProperties, Will
from a2a_mqtt.transport._properties import (
    PublishPropertiesOut,
    connect_properties,
    from_paho,
    to_paho,
    will_properties,
)

FULL = PublishProperties(
    response_topic="r/t",
    correlation_data=b"\x00\x01\x02",
    content_type="application/json",
    payload_format_utf8=False,
    message_expiry_interval=30,
    user_properties=(("k", "1"), ("K", "2"), ("k", "1"), ("other", "")),
)


def new_properties(packet_type: int) -> Any:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def wire_round_trip(props: Any, packet_type: int) -> Any:
    """Pack and unpack, as the broker would see and send it."""
    parsed = new_properties(packet_type)
    parsed.unpack(props.pack())
    return parsed


def test_empty_properties_are_not_sent() -> None:
    assert to_paho(None) is None
    assert to_paho(PublishProperties()) is None
    assert from_paho(None) == PublishProperties()
    assert from_paho(new_properties(PacketTypes.PUBLISH)) == PublishProperties()


def test_full_round_trip_through_the_wire_format() -> None:
    paho = to_paho(FULL)
    assert paho is not None
    assert from_paho(wire_round_trip(paho, PacketTypes.PUBLISH)) == FULL


def test_user_properties_keep_order_and_duplicates() -> None:
    paho = to_paho(PublishProperties(user_properties=(("b", "2"), ("a", "1"), ("b", "2"))))
    assert paho.UserProperty == [("b", "2"), ("a", "1"), ("b", "2")]


def test_payload_format_indicator_three_states() -> None:
    for value, wire in ((True, 1), (False, 0)):
        paho = to_paho(PublishProperties(payload_format_utf8=value))
        assert paho.PayloadFormatIndicator == wire
        assert from_paho(paho).payload_format_utf8 is value
    assert not hasattr(to_paho(PublishProperties(content_type="x")), "PayloadFormatIndicator")


def test_will_properties_carry_the_delay() -> None:
    will = Will(topic="w", payload=b"x", properties=FULL, delay_interval=5)
    paho = will_properties(will)
    assert paho.packetType == PacketTypes.WILLMESSAGE
    assert paho.WillDelayInterval == 5
    parsed = wire_round_trip(paho, PacketTypes.WILLMESSAGE)
    assert from_paho(parsed) == FULL
    assert will_properties(Will(topic="w", payload=b"")) is None
    assert will_properties(Will(topic="w", payload=b"", delay_interval=2)).WillDelayInterval == 2


def test_connect_properties() -> None:
    url = BrokerURL.parse("mqtt://h")
    plain = connect_properties(ConnectOptions(url=url, client_id="c"))
    assert not hasattr(plain, "SessionExpiryInterval")
    assert plain.ReceiveMaximum == 1000
    durable = connect_properties(
        ConnectOptions(url=url, client_id="c", session_expiry_interval=300, max_inflight=70000)
    )
    assert durable.SessionExpiryInterval == 300
    assert durable.ReceiveMaximum == 65535


@pytest.mark.parametrize(
    "props",
    [
        FULL,
        PublishProperties(correlation_data=b""),
        PublishProperties(payload_format_utf8=True, content_type="text/plain; charset=utf-8"),
        PublishProperties(message_expiry_interval=0xFFFFFFFF),
        PublishProperties(response_topic="ünïcödé/" + "x" * 300),
        PublishProperties(user_properties=tuple((f"k{i}", "v" * i) for i in range(40))),
    ],
)
def test_edge_values_survive_the_wire(props: PublishProperties) -> None:
    assert from_paho(wire_round_trip(to_paho(props), PacketTypes.PUBLISH)) == props


_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    props=st.builds(
        PublishProperties,
        response_topic=st.none() | _text,
        correlation_data=st.none() | st.binary(max_size=40),
        content_type=st.none() | _text,
        payload_format_utf8=st.none() | st.booleans(),
        message_expiry_interval=st.none() | st.integers(0, 0xFFFFFFFF),
        user_properties=st.lists(st.tuples(_text, _text), max_size=5).map(tuple),
    )
)
def test_any_properties_survive_the_wire(props: PublishProperties) -> None:
    paho = to_paho(props)
    decoded = (
        PublishProperties()
        if paho is None
        else from_paho(wire_round_trip(paho, PacketTypes.PUBLISH))
    )
    assert decoded == props


def test_values_mqtt_cannot_carry_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="65535"):
        to_paho(PublishProperties(response_topic="t" * 70000))
    with pytest.raises(ConfigError, match="65535"):
        to_paho(PublishProperties(user_properties=(("k", "v" * 70000),)))
    with pytest.raises(ConfigError, match="65535"):
        to_paho(PublishProperties(correlation_data=b"x" * 70000))
    with pytest.raises(ConfigError, match="32 bits"):
        to_paho(PublishProperties(message_expiry_interval=2**32))
    with pytest.raises(ConfigError, match="32 bits"):
        will_properties(
            Will(topic="w", payload=b"", properties=PublishProperties(message_expiry_interval=-1))
        )


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    props=st.builds(
        PublishProperties,
        response_topic=st.none() | _text,
        correlation_data=st.none() | st.binary(max_size=40),
        content_type=st.none() | _text,
        payload_format_utf8=st.none() | st.booleans(),
        message_expiry_interval=st.none() | st.integers(0, 0xFFFFFFFF),
        user_properties=st.lists(st.tuples(_text, _text), max_size=5).map(tuple),
    )
)
def test_fast_pack_is_byte_identical_to_pahos(props: PublishProperties) -> None:
    out = to_paho(props)
    if out is None:
        return
    assert isinstance(out, PublishPropertiesOut)
    assert out.pack() == bytes(Properties.pack(out))  # paho's own serialisation
    # The same object paho's own setters build, attribute by attribute.
    reference = new_properties(PacketTypes.PUBLISH)
    for name, value in out.json().items():
        setattr(reference, name, value if name != "CorrelationData" else bytes.fromhex(value))
    assert reference.json() == out.json()
    assert bytes(reference.pack()) == out.pack()


def test_copies_never_share_state() -> None:
    first = to_paho(PublishProperties(user_properties=(("a", "1"),), correlation_data=b"1"))
    second = to_paho(PublishProperties(user_properties=(("b", "2"),)))
    first.UserProperty = ("c", "3")  # paho's setter appends to a multi-valued property
    assert first.UserProperty == [("a", "1"), ("c", "3")]
    assert second.UserProperty == [("b", "2")]
    assert not hasattr(second, "CorrelationData")
    assert not hasattr(to_paho(PublishProperties(content_type="x")), "UserProperty")
