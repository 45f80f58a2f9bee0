"""The fast PUBLISH/ack decoders agree with paho's own, byte for byte."""

from __future__ import annotations

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion

from a2a_mqtt.transport import PublishProperties
from a2a_mqtt.transport._codec import decode_ack, decode_publish
from a2a_mqtt.transport._properties import encode_publish, from_paho


def publish_body(topic: str, payload: bytes, props: PublishProperties, mid: int | None) -> bytes:
    encoded = encode_publish(props)
    block = encoded.pack() if encoded is not None else b"\x00"
    topic_bytes = topic.encode()
    packet_id = mid.to_bytes(2, "big") if mid is not None else b""
    return len(topic_bytes).to_bytes(2, "big") + topic_bytes + packet_id + block + payload


CASES = [
    ("a/b", b"", PublishProperties(), 0, False),
    ("t", b"payload", PublishProperties(correlation_data=b"\x00\x01"), 1, True),
    (
        "ünï/cödé",
        b"x" * 70000,
        PublishProperties(
            response_topic="r/" + "y" * 200,
            correlation_data=b"\xff" * 16,
            content_type="application/json",
            payload_format_utf8=True,
            message_expiry_interval=3600,
            user_properties=(("k", "1"), ("k", "1"), ("a2a-op", "x")),
        ),
        2,
        False,
    ),
]


@pytest.mark.parametrize(("topic", "payload", "props", "qos", "retain"), CASES)
def test_decode_publish_matches_paho(
    topic: str, payload: bytes, props: PublishProperties, qos: int, retain: bool
) -> None:
    header = 0x30 | (qos << 1) | int(retain) | (0x08 if qos else 0)
    body = publish_body(topic, payload, props, 4242 if qos else None)
    ours = decode_publish(header, body)
    theirs = _packet.decode_publish(header, body, MQTTProtocolVersion.MQTTv5)
    assert ours.topic == theirs.topic.decode() == topic
    assert ours.mid == theirs.mid
    assert ours.qos == theirs.qos == qos
    assert ours.retain == theirs.retain == retain
    assert ours.dup == theirs.dup
    assert ours.payload == bytes(theirs.payload) == payload
    assert ours.properties == from_paho(theirs.properties) == props


def test_topic_alias_and_subscription_identifier_are_skipped() -> None:
    props = b"\x0b\x81\x01" + b"\x23\x00\x07" + b"\x09\x00\x01z"  # sub id 129, alias 7
    body = b"\x00\x01t" + bytes([len(props)]) + props + b"pay"
    decoded = decode_publish(0x30, body)
    assert decoded.properties == PublishProperties(correlation_data=b"z")
    assert decoded.payload == b"pay"


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x05ab",  # topic runs past the packet
        b"\x00\x01t\x05\x01",  # properties run past the packet
        b"\x00\x01t\x02\x2a\x00",  # property not allowed in PUBLISH
        b"\x00\x01t\x03\x03\x00\x05",  # string runs past the properties
        b"\x00\x02\xff\xfe\x00",  # topic is not UTF-8
        b"\x00\x01t\xff\xff\xff\xff\x01",  # Variable Byte Integer too long
    ],
)
def test_malformed_publish_raises_value_error(body: bytes) -> None:
    with pytest.raises((ValueError, IndexError)):
        decode_publish(0x30, body)
    with pytest.raises(ValueError, match="QoS 3"):
        decode_publish(0x36, b"\x00\x01t\x00\x01\x00")


def test_decode_ack() -> None:
    assert decode_ack(b"\x12\x34") == (0x1234, 0)
    assert decode_ack(b"\x00\x01\x87") == (1, 0x87)
    assert decode_ack(b"\x00\x01\x10\x00") == (1, 0x10)
    with pytest.raises(ValueError, match="packet id"):
        decode_ack(b"\x01")
