"""Fast decoding of the packets on the hot path: PUBLISH and PUBACK/PUBCOMP bodies.

paho decodes every PUBLISH into a ``Properties`` object whose ``unpack`` and
setters scan all 27 property names with string replaces, and builds two
``ReasonCode`` objects plus an empty ``Properties`` per PUBACK; together that is
most of paho's CPU time per message. These functions read the same bytes
straight into our value objects. They are pure (bytes in, values out) and raise
``ValueError`` for anything malformed; the caller turns that into paho's
``MalformedPacket``, so a bad packet still closes the connection as in paho.

Invariant: :func:`decode_publish` accepts exactly the PUBLISH properties MQTT 5
allows (unknown identifiers are malformed) and returns the ones the binding uses;
Topic Alias and Subscription Identifier are read and dropped (we never enable
either).
"""

from __future__ import annotations

from typing import NamedTuple

from a2a_mqtt.transport.base import PublishProperties

__all__ = ["DecodedPublish", "decode_ack", "decode_publish"]

_EMPTY = PublishProperties()


class DecodedPublish(NamedTuple):
    """A PUBLISH, decoded."""

    topic: str
    mid: int
    qos: int
    retain: bool
    dup: bool
    properties: PublishProperties
    payload: bytes


def decode_publish(header: int, body: bytes | bytearray) -> DecodedPublish:
    """Decode a PUBLISH from its first header byte and its body (after the length)."""
    qos = (header >> 1) & 0x03
    if qos == 3:
        raise ValueError("PUBLISH with QoS 3")
    view = memoryview(body)
    topic_len = int.from_bytes(view[0:2], "big")
    pos = 2 + topic_len
    if pos > len(view):
        raise ValueError("PUBLISH topic runs past the packet")
    topic = str(view[2:pos], "utf-8")
    mid = 0
    if qos:
        if pos + 2 > len(view):
            raise ValueError("PUBLISH packet id runs past the packet")
        mid = int.from_bytes(view[pos : pos + 2], "big")
        pos += 2
    props_len, pos = _vbi(view, pos)
    end = pos + props_len
    if end > len(view):
        raise ValueError("PUBLISH properties run past the packet")
    properties = _publish_properties(view, pos, end) if props_len else _EMPTY
    return DecodedPublish(
        topic=topic,
        mid=mid,
        qos=qos,
        retain=bool(header & 0x01),
        dup=bool(header & 0x08),
        properties=properties,
        payload=bytes(view[end:]),
    )


def decode_ack(body: bytes | bytearray) -> tuple[int, int]:
    """(packet id, reason code) of a PUBACK/PUBREC/PUBREL/PUBCOMP body; properties ignored."""
    if len(body) < 2:
        raise ValueError("acknowledgement shorter than its packet id")
    return int.from_bytes(body[0:2], "big"), body[2] if len(body) > 2 else 0


def _publish_properties(view: memoryview, pos: int, end: int) -> PublishProperties:
    pfi: bool | None = None
    expiry: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation: bytes | None = None
    user: list[tuple[str, str]] = []
    while pos < end:
        ident = view[pos]
        pos += 1
        if ident == 0x01:
            pfi = bool(view[pos])
            pos += 1
        elif ident == 0x02:
            expiry = int.from_bytes(view[pos : pos + 4], "big")
            pos += 4
        elif ident == 0x03:
            content_type, pos = _utf8(view, pos, end)
        elif ident == 0x08:
            response_topic, pos = _utf8(view, pos, end)
        elif ident == 0x09:
            correlation, pos = _binary(view, pos, end)
        elif ident == 0x26:
            key, pos = _utf8(view, pos, end)
            value, pos = _utf8(view, pos, end)
            user.append((key, value))
        elif ident == 0x0B:  # Subscription Identifier
            _, pos = _vbi(view, pos)
        elif ident == 0x23:  # Topic Alias
            pos += 2
        else:
            raise ValueError(f"property 0x{ident:02X} is not allowed in PUBLISH")
    if pos != end:
        raise ValueError("PUBLISH properties overrun their length")
    return PublishProperties(
        response_topic=response_topic,
        correlation_data=correlation,
        content_type=content_type,
        payload_format_utf8=pfi,
        message_expiry_interval=expiry,
        user_properties=tuple(user),
    )


def _binary(view: memoryview, pos: int, end: int) -> tuple[bytes, int]:
    length = int.from_bytes(view[pos : pos + 2], "big")
    start = pos + 2
    if start + length > end:
        raise ValueError("property value runs past the properties")
    return bytes(view[start : start + length]), start + length


def _utf8(view: memoryview, pos: int, end: int) -> tuple[str, int]:
    raw, pos = _binary(view, pos, end)
    return raw.decode("utf-8"), pos


def _vbi(view: memoryview, pos: int) -> tuple[int, int]:
    """Variable Byte Integer at ``pos``: (value, position after it)."""
    value = 0
    for shift in range(0, 28, 7):
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("Variable Byte Integer longer than 4 bytes")
