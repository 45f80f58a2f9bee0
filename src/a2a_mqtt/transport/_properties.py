"""Translation between our MQTT 5 value objects and paho ``Properties``.

Invariants: a field left ``None`` (or an empty user property tuple) is absent
on the wire, never sent as an empty value; user properties keep their order and
duplicates both ways; :func:`from_paho` never fails on a property we do not use.

Outgoing PUBLISH properties skip paho's ``Properties`` class, whose setters and
``pack()`` scan every property name with string replaces (tens of microseconds
per message): :func:`encode_publish` produces the same bytes directly, and paho
only ever calls ``pack()`` on what it is given.
"""

from __future__ import annotations

import struct
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport.base import ConnectOptions, PublishProperties, Will

__all__ = [
    "EncodedProperties",
    "connect_properties",
    "encode_publish",
    "from_paho",
    "to_paho",
    "will_properties",
]

_EMPTY = PublishProperties()


def _new(packet_type: int) -> Any:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it unannotated


def to_paho(props: PublishProperties | None, *, packet_type: int = PacketTypes.PUBLISH) -> Any:
    """Paho ``Properties`` for a PUBLISH (or Will) carrying ``props``; ``None`` if empty."""
    if props is None or props == _EMPTY:
        return None
    out: Any = _new(packet_type)
    _fill(out, props)
    return out


def _fill(out: Any, props: PublishProperties) -> None:
    if props.response_topic is not None:
        out.ResponseTopic = props.response_topic
    if props.correlation_data is not None:
        out.CorrelationData = props.correlation_data
    if props.content_type is not None:
        out.ContentType = props.content_type
    if props.payload_format_utf8 is not None:
        out.PayloadFormatIndicator = 1 if props.payload_format_utf8 else 0
    if props.message_expiry_interval is not None:
        out.MessageExpiryInterval = props.message_expiry_interval
    if props.user_properties:
        out.UserProperty = [(k, v) for k, v in props.user_properties]


class EncodedProperties:
    """PUBLISH properties already in wire format; quacks like paho ``Properties``."""

    __slots__ = ("_packed", "source")

    def __init__(self, packed: bytes, source: PublishProperties) -> None:
        self._packed = packed
        self.source = source

    def pack(self) -> bytes:
        """The property block: Variable Byte Integer length, then the properties."""
        return self._packed

    def __str__(self) -> str:  # paho's debug log prints the properties
        return str(self.source)


def encode_publish(props: PublishProperties | None) -> EncodedProperties | None:
    """Wire-encode PUBLISH properties, in paho's order; ``None`` if there are none."""
    if props is None or props == _EMPTY:
        return None
    out = bytearray()
    if props.payload_format_utf8 is not None:
        out += b"\x01\x01" if props.payload_format_utf8 else b"\x01\x00"
    if props.message_expiry_interval is not None:
        if not 0 <= props.message_expiry_interval <= 0xFFFFFFFF:
            raise ConfigError("message_expiry_interval must fit in 32 bits")
        out += b"\x02" + struct.pack("!I", props.message_expiry_interval)
    if props.content_type is not None:
        out += b"\x03" + _utf8(props.content_type)
    if props.response_topic is not None:
        out += b"\x08" + _utf8(props.response_topic)
    if props.correlation_data is not None:
        out += b"\x09" + _binary(props.correlation_data)
    for key, value in props.user_properties:
        out += b"\x26" + _utf8(key) + _utf8(value)
    return EncodedProperties(_vbi(len(out)) + out, props)


def _binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ConfigError("an MQTT property value must not exceed 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def _utf8(text: str) -> bytes:
    return _binary(text.encode())


def _vbi(value: int) -> bytes:
    """MQTT Variable Byte Integer."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def will_properties(will: Will) -> Any:
    """Will properties: the PUBLISH ones plus the MQTT 5 Will Delay Interval."""
    if will.properties == _EMPTY and not will.delay_interval:
        return None
    out: Any = _new(PacketTypes.WILLMESSAGE)
    _fill(out, will.properties)
    if will.delay_interval:
        out.WillDelayInterval = will.delay_interval
    return out


def connect_properties(options: ConnectOptions) -> Any:
    """CONNECT properties: Session Expiry Interval, our Receive Maximum, user properties.

    Our Receive Maximum bounds the QoS>0 messages the broker may have
    unacknowledged towards us (manual-ack messages count until acked); it uses
    ``options.max_inflight``, the same bound we keep in the other direction.
    """
    out: Any = _new(PacketTypes.CONNECT)
    if options.session_expiry_interval:
        out.SessionExpiryInterval = options.session_expiry_interval
    out.ReceiveMaximum = max(1, min(65535, options.max_inflight))
    if options.user_properties:
        out.UserProperty = list(options.user_properties)
    return out


def from_paho(props: Any) -> PublishProperties:
    """Our value object for the properties of a received PUBLISH."""
    if props is None:
        return _EMPTY
    get = props.__dict__.get  # paho stores each present property as an attribute
    user = get("UserProperty")
    pfi = get("PayloadFormatIndicator")
    correlation = get("CorrelationData")
    return PublishProperties(
        response_topic=get("ResponseTopic"),
        correlation_data=bytes(correlation) if correlation is not None else None,
        content_type=get("ContentType"),
        payload_format_utf8=None if pfi is None else bool(pfi),
        message_expiry_interval=get("MessageExpiryInterval"),
        user_properties=tuple((str(k), str(v)) for k, v in user) if user else (),
    )
