"""Completeness of the paho code translation in a2a_mqtt.transport._errors."""

from __future__ import annotations

import pytest
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from a2a_mqtt.errors import (
    ConnectError,
    NotConnectedError,
    PublishError,
    SubscribeError,
    TransportError,
)
from a2a_mqtt.transport import _errors


def failure_codes(packet_type: int) -> list[int]:
    """Every reason code >= 0x80 that paho knows for ``packet_type``."""
    return sorted(
        code
        # An instance's table (the same for every packet type): paho 2.1 has no class one.
        for code, names in ReasonCode(PacketTypes.PUBACK).names.items()
        if code >= 0x80 and any(packet_type in types for types in names.values())
    )


@pytest.mark.parametrize("rc", list(MQTTErrorCode))
def test_every_paho_result_code_is_mapped(rc: MQTTErrorCode) -> None:
    error = _errors.rc_error(rc, action="publish")
    if rc is MQTTErrorCode.MQTT_ERR_SUCCESS:
        assert error is None
        return
    assert isinstance(error, TransportError)
    assert "unknown paho result code" not in str(error)
    assert str(error).startswith("publish failed: ")


@pytest.mark.parametrize(
    ("rc", "cls"),
    [
        (MQTTErrorCode.MQTT_ERR_NO_CONN, NotConnectedError),
        (MQTTErrorCode.MQTT_ERR_CONN_LOST, NotConnectedError),
        (MQTTErrorCode.MQTT_ERR_KEEPALIVE, NotConnectedError),
        (MQTTErrorCode.MQTT_ERR_CONN_REFUSED, ConnectError),
        (MQTTErrorCode.MQTT_ERR_QUEUE_SIZE, TransportError),
    ],
)
def test_result_code_classes(rc: MQTTErrorCode, cls: type[TransportError]) -> None:
    assert type(_errors.rc_error(rc, action="x")) is cls


def test_unknown_result_code() -> None:
    unknown = _errors.rc_error(999, action="x")
    assert isinstance(unknown, TransportError)
    assert "999" in str(unknown)


@pytest.mark.parametrize("code", failure_codes(PacketTypes.CONNACK))
def test_every_connack_failure_is_a_connect_error(code: int) -> None:
    error = _errors.connack_error(code, url="mqtt://h:1")
    assert isinstance(error, ConnectError)
    assert error.reason_code == code
    assert "unknown reason code" not in str(error)
    assert f"0x{code:02X}" in str(error)


@pytest.mark.parametrize(
    "code", sorted(set(failure_codes(PacketTypes.PUBACK)) | set(failure_codes(PacketTypes.PUBREC)))
)
def test_every_puback_failure_is_a_publish_error(code: int) -> None:
    error = _errors.puback_error(code, topic="t")
    assert isinstance(error, PublishError)
    assert error.reason_code == code
    assert "unknown reason code" not in str(error)


@pytest.mark.parametrize("code", failure_codes(PacketTypes.SUBACK))
def test_every_suback_failure_is_a_subscribe_error(code: int) -> None:
    error = _errors.suback_error(code, topic_filter="t/#")
    assert isinstance(error, SubscribeError)
    assert error.reason_code == code
    assert "unknown reason code" not in str(error)


@pytest.mark.parametrize(
    "code", failure_codes(PacketTypes.UNSUBACK) + failure_codes(PacketTypes.DISCONNECT)
)
def test_unsuback_and_disconnect_failures_are_described(code: int) -> None:
    assert "unknown reason code" not in _errors.describe_reason(code)
    assert _errors.unsuback_error(code, topic_filter="t").reason_code == code


def test_success_codes_are_below_the_failure_threshold() -> None:
    assert _errors.FAILURE > 0x10  # "No matching subscribers" is a success
    assert _errors.describe_reason(0x10) == "no matching subscribers (0x10)"
    assert _errors.describe_reason(0x87) == "not authorized (0x87)"


def test_paho_knows_the_codes_we_test() -> None:
    # Guards the parametrisation above against an empty table in a future paho.
    assert 0x86 in failure_codes(PacketTypes.CONNACK)
    assert 0x87 in failure_codes(PacketTypes.PUBACK)
    assert 0x8F in failure_codes(PacketTypes.SUBACK)
