"""The one place where MQTT 5 reason codes become our exceptions.

Reason codes ride on CONNACK, PUBACK/PUBREC/PUBCOMP, SUBACK, UNSUBACK and
DISCONNECT. Below 0x80 they mean success (0x10 "No matching subscribers" is a
success), from 0x80 on failure; :func:`connack_error`, :func:`puback_error` and
:func:`suback_error` build the exception.

``tests/unit/transport/test_errors.py`` checks that every failure reason code
the codec knows for these packets is described and mapped.
"""

from __future__ import annotations

from a2a_mqtt.errors import ConnectError, PublishError, SubscribeError

__all__ = [
    "FAILURE",
    "connack_error",
    "describe_reason",
    "puback_error",
    "suback_error",
    "unsuback_error",
]

#: Reason codes at or above this value are failures (MQTT 5 section 2.4).
FAILURE = 0x80

# Every failure reason code of MQTT 5.0, whichever packet carries it.
_REASONS: dict[int, str] = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x83: "implementation specific error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x8B: "server shutting down",
    0x8C: "bad authentication method",
    0x8D: "keep alive timeout",
    0x8E: "session taken over",
    0x8F: "topic filter invalid",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x92: "packet identifier not found",
    0x93: "receive maximum exceeded",
    0x94: "topic alias invalid",
    0x95: "packet too large",
    0x96: "message rate too high",
    0x97: "quota exceeded",
    0x98: "administrative action",
    0x99: "payload format invalid",
    0x9A: "retain not supported",
    0x9B: "QoS not supported",
    0x9C: "use another server",
    0x9D: "server moved",
    0x9E: "shared subscription not supported",
    0x9F: "connection rate exceeded",
    0xA0: "maximum connect time",
    0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscription not supported",
}

# Success codes worth a name in logs.
_SUCCESSES: dict[int, str] = {
    0x00: "success",
    0x01: "granted QoS 1",
    0x02: "granted QoS 2",
    0x04: "disconnect with will message",
    0x10: "no matching subscribers",
    0x11: "no subscription existed",
}


def describe_reason(code: int) -> str:
    """``"not authorized (0x87)"``: the MQTT 5 meaning of a reason code."""
    name = _REASONS.get(code) or _SUCCESSES.get(code) or "unknown reason code"
    return f"{name} (0x{code:02X})"


def connack_error(code: int, *, url: str) -> ConnectError:
    """CONNACK refused the connection to ``url`` with ``code`` (>= 0x80)."""
    hint = ""
    if code in (0x86, 0x87, 0x8C):
        hint = "; check the username, password and the broker's password_file/ACL"
    elif code == 0x85:
        hint = "; the broker rejected the client id"
    return ConnectError(
        f"broker {url} refused the connection: {describe_reason(code)}{hint}", reason_code=code
    )


def puback_error(code: int, *, topic: str) -> PublishError:
    """The broker acknowledged a publish to ``topic`` with failure ``code``."""
    return PublishError(
        f"broker rejected the publish to {topic!r}: {describe_reason(code)}", reason_code=code
    )


def suback_error(code: int, *, topic_filter: str) -> SubscribeError:
    """The broker refused the subscription to ``topic_filter`` with ``code``."""
    return SubscribeError(
        f"broker refused the subscription to {topic_filter!r}: {describe_reason(code)}",
        reason_code=code,
    )


def unsuback_error(code: int, *, topic_filter: str) -> SubscribeError:
    """The broker refused to remove the subscription to ``topic_filter``."""
    return SubscribeError(
        f"broker refused to unsubscribe {topic_filter!r}: {describe_reason(code)}",
        reason_code=code,
    )
