"""Translation between our MQTT 5 value objects and paho ``Properties``.

Invariants: a field left ``None`` (or an empty user property tuple) is absent
on the wire, never sent as an empty value; user properties keep their order and
duplicates both ways; :func:`from_paho` never fails on a property we do not use.
Only paho's public ``Properties`` interface is used: the constructor, attribute
assignment and reading of the property names, ``pack``/``unpack``.

Outgoing PUBLISH properties are on every message's path, and paho's
``Properties`` is slow there: its constructor builds two tables, every
assignment scans all 27 property names with string replaces, and so does
``pack()``. So :func:`to_paho` builds a :class:`PublishPropertiesOut`:

* a shallow copy of one blank instance (no constructor run per message);
* each property stored as paho's documented data model has it, an attribute
  named after the property (``ResponseTopic``, ``UserProperty`` as a list of
  pairs), with the values checked here instead of by paho's setter;
* a public ``pack()`` that writes those six properties directly, in paho's
  order.

Property-based tests check that the result equals, attribute by attribute and
byte by byte, what paho's own setters and ``pack()`` produce. Overriding a
public method of a public class is the only extension; no private name is used.
Invariant: the blank instance is never modified (every value is stored on the
copy), so copies cannot affect it or each other.
"""

from __future__ import annotations

import copy
import struct
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport.base import ConnectOptions, PublishProperties, Will

__all__ = [
    "PublishPropertiesOut",
    "connect_properties",
    "from_paho",
    "to_paho",
    "will_properties",
]

_EMPTY = PublishProperties()


def _new(packet_type: int) -> Any:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it unannotated


class PublishPropertiesOut(Properties):
    """Outgoing PUBLISH properties with a fast ``pack()``; see the module docstring."""

    @classmethod
    def build(cls, props: PublishProperties) -> PublishPropertiesOut:
        """The paho properties of ``props`` (already checked), without paho's name scans."""
        out: PublishPropertiesOut = copy.copy(_BLANK)
        store = object.__setattr__  # what paho's setter ends with, minus its scans
        if props.payload_format_utf8 is not None:
            store(out, "PayloadFormatIndicator", 1 if props.payload_format_utf8 else 0)
        if props.message_expiry_interval is not None:
            store(out, "MessageExpiryInterval", props.message_expiry_interval)
        if props.content_type is not None:
            store(out, "ContentType", props.content_type)
        if props.response_topic is not None:
            store(out, "ResponseTopic", props.response_topic)
        if props.correlation_data is not None:
            store(out, "CorrelationData", bytes(props.correlation_data))
        if props.user_properties:
            store(out, "UserProperty", list(props.user_properties))
        return out

    def pack(self) -> bytes:
        """The property block: Variable Byte Integer length, then the properties."""
        out = bytearray()
        pfi = getattr(self, "PayloadFormatIndicator", None)
        if pfi is not None:
            out += b"\x01" + bytes((pfi,))
        expiry = getattr(self, "MessageExpiryInterval", None)
        if expiry is not None:
            out += b"\x02" + struct.pack("!I", expiry)
        content_type = getattr(self, "ContentType", None)
        if content_type is not None:
            out += b"\x03" + _utf8(content_type)
        response_topic = getattr(self, "ResponseTopic", None)
        if response_topic is not None:
            out += b"\x08" + _utf8(response_topic)
        correlation = getattr(self, "CorrelationData", None)
        if correlation is not None:
            out += b"\x09" + _binary(bytes(correlation))
        for key, value in getattr(self, "UserProperty", ()):
            out += b"\x26" + _utf8(key) + _utf8(value)
        return _vbi(len(out)) + bytes(out)


def _binary(data: bytes) -> bytes:
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


def to_paho(props: PublishProperties | None, *, packet_type: int = PacketTypes.PUBLISH) -> Any:
    """Paho ``Properties`` for a PUBLISH (or Will) carrying ``props``; ``None`` if empty."""
    if props is None or props == _EMPTY:
        return None
    _check(props)
    if packet_type == PacketTypes.PUBLISH:
        return PublishPropertiesOut.build(props)
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


_BLANK: Any = PublishPropertiesOut(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


def _check(props: PublishProperties) -> None:
    """Refuse values MQTT cannot carry with a ConfigError (paho would fail obscurely)."""
    expiry = props.message_expiry_interval
    if expiry is not None and not 0 <= expiry <= 0xFFFFFFFF:
        raise ConfigError("message_expiry_interval must fit in 32 bits")
    texts = [props.content_type, props.response_topic]
    texts += [text for pair in props.user_properties for text in pair]
    for text in texts:
        if text is not None and not isinstance(text, str):
            raise ConfigError(f"MQTT string properties must be str, got {type(text).__name__}")
    sizes = [len(props.correlation_data)] if props.correlation_data is not None else []
    sizes += [len(text.encode()) for text in texts if text is not None]
    if any(size > 0xFFFF for size in sizes):
        raise ConfigError("an MQTT property value must not exceed 65535 bytes")


def will_properties(will: Will) -> Any:
    """Will properties: the PUBLISH ones plus the MQTT 5 Will Delay Interval."""
    if will.properties == _EMPTY and not will.delay_interval:
        return None
    _check(will.properties)
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
    # paho's documented interface: a property present on the wire is an attribute.
    user = getattr(props, "UserProperty", None)
    pfi = getattr(props, "PayloadFormatIndicator", None)
    correlation = getattr(props, "CorrelationData", None)
    return PublishProperties(
        response_topic=getattr(props, "ResponseTopic", None),
        correlation_data=bytes(correlation) if correlation is not None else None,
        content_type=getattr(props, "ContentType", None),
        payload_format_utf8=None if pfi is None else bool(pfi),
        message_expiry_interval=getattr(props, "MessageExpiryInterval", None),
        user_properties=tuple((str(k), str(v)) for k, v in user) if user else (),
    )
