"""Our MQTT 5 value objects <-> ``mqtt5`` packets (pure: no I/O, no session state).

Invariants: a field left ``None`` (or an empty user property tuple) is absent
on the wire, never sent as an empty value; user properties keep their order
and duplicates both ways; an argument the codec refuses becomes a
:class:`ConfigError` naming the topic, never a codec exception.

One wire detail follows the codec: a Payload Format Indicator of 0
("unspecified bytes") is the MQTT 5 default and is not sent, so
``payload_format_utf8=False`` arrives as ``None``; both mean the same.
"""

from __future__ import annotations

import mqtt5

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport.base import ConnectOptions, PublishProperties, Subscription

__all__ = [
    "QOS",
    "connect_packet",
    "incoming_properties",
    "publish_packet",
    "topic_filter",
    "validate_topic",
]

#: ``QOS[n]`` is the codec's enum member for QoS ``n``.
QOS = (mqtt5.QoS.AT_MOST_ONCE, mqtt5.QoS.AT_LEAST_ONCE, mqtt5.QoS.EXACTLY_ONCE)

_EMPTY = PublishProperties()
_CODEC_ERRORS = (ValueError, OverflowError, TypeError)


def validate_topic(topic: str) -> None:
    """Raise :class:`ConfigError` unless ``topic`` is a valid PUBLISH topic name."""
    if not topic:
        raise ConfigError("a topic name must not be empty")
    if "+" in topic or "#" in topic:
        raise ConfigError(f"topic name {topic!r} must not contain wildcards")
    if "\x00" in topic:
        raise ConfigError(f"topic name {topic!r} must not contain NUL")


def publish_packet(
    topic: str,
    payload: bytes,
    *,
    qos: int,
    retain: bool,
    properties: PublishProperties | None,
    packet_id: int | None = None,
    duplicate: bool = False,
) -> mqtt5.PublishPacket:
    """The PUBLISH for these arguments (``packet_id`` only for QoS 1 and 2)."""
    try:
        # Properties with user properties are not empty: no field-by-field compare.
        if properties is None or (not properties.user_properties and properties == _EMPTY):
            return mqtt5.PublishPacket(
                topic, payload, qos=QOS[qos], retain=retain, packet_id=packet_id,
                duplicate=duplicate,
            )  # fmt: skip
        p = properties
        return mqtt5.PublishPacket(
            topic,
            payload,
            qos=QOS[qos],
            retain=retain,
            packet_id=packet_id,
            duplicate=duplicate,
            payload_format_indicator=1 if p.payload_format_utf8 else 0,
            message_expiry_interval=p.message_expiry_interval,
            content_type=p.content_type,
            response_topic=p.response_topic,
            correlation_data=p.correlation_data,
            user_properties=list(p.user_properties) if p.user_properties else None,
        )
    except _CODEC_ERRORS as exc:
        raise ConfigError(f"cannot publish to {topic!r}: {exc}") from exc


def incoming_properties(packet: mqtt5.PublishPacket) -> PublishProperties:
    """Our value object for the properties of a received PUBLISH."""
    response_topic = packet.response_topic
    correlation = packet.correlation_data
    content_type = packet.content_type
    expiry = packet.message_expiry_interval
    pfi = packet.payload_format_indicator
    user = packet.user_properties
    if (
        response_topic is None
        and correlation is None
        and content_type is None
        and expiry is None
        and not pfi
        and not user
    ):
        return _EMPTY
    return PublishProperties(
        response_topic=response_topic,
        correlation_data=correlation,
        content_type=content_type,
        payload_format_utf8=True if pfi else None,
        message_expiry_interval=expiry,
        user_properties=tuple(user),
    )


def connect_packet(options: ConnectOptions, *, clean_start: bool) -> mqtt5.ConnectPacket:
    """CONNECT: identity, credentials, session expiry, our Receive Maximum, will, user properties.

    Our Receive Maximum bounds the QoS>0 messages the broker may have
    unacknowledged towards us (manual-ack messages count until acked); it uses
    ``options.max_inflight``, the same bound we keep in the other direction.
    Credentials in the options win over credentials in the URL.
    """
    url = options.url
    username = options.username if options.username is not None else url.username
    password = options.password if options.password is not None else url.password
    try:
        return mqtt5.ConnectPacket(
            options.client_id,
            username=username,
            password=password.encode() if password is not None else None,
            clean_start=clean_start,
            will=_will(options),
            keep_alive=options.keepalive,
            session_expiry_interval=options.session_expiry_interval,
            receive_max=max(1, min(65535, options.max_inflight)),
            user_properties=list(options.user_properties) if options.user_properties else None,
        )
    except _CODEC_ERRORS as exc:
        raise ConfigError(f"invalid connect options: {exc}") from exc


def _will(options: ConnectOptions) -> mqtt5.Will | None:
    if options.will is None:
        return None
    w = options.will
    p = w.properties
    return mqtt5.Will(
        w.topic,
        payload=w.payload,
        qos=QOS[w.qos],
        retain=w.retain,
        payload_format_indicator=1 if p.payload_format_utf8 else 0,
        message_expiry_interval=p.message_expiry_interval,
        content_type=p.content_type,
        response_topic=p.response_topic,
        correlation_data=p.correlation_data,
        will_delay_interval=w.delay_interval,
        user_properties=list(p.user_properties) if p.user_properties else None,
    )


def topic_filter(subscription: Subscription) -> mqtt5.TopicFilter:
    """The SUBSCRIBE entry for ``subscription`` (Retain Handling 0: send retained)."""
    return mqtt5.TopicFilter(
        subscription.topic_filter,
        max_qos=QOS[subscription.qos],
        no_local=subscription.no_local,
        retain_as_published=subscription.retain_as_published,
    )
