"""Completeness of the reason-code translation in a2a_mqtt.transport._errors."""

from __future__ import annotations

import mqtt5
import pytest

from a2a_mqtt.errors import ConnectError, PublishError, SubscribeError
from a2a_mqtt.transport import _errors


def failure_codes(*enums: type) -> list[int]:
    """Every reason code >= 0x80 the codec knows in ``enums`` (its members are the
    upper-case class attributes: the codec's enums are native classes)."""
    codes = {int(getattr(e, name)) for e in enums for name in dir(e) if name.isupper()}
    return sorted(code for code in codes if code >= 0x80)


@pytest.mark.parametrize("code", failure_codes(mqtt5.ConnAckReasonCode))
def test_every_connack_failure_is_a_connect_error(code: int) -> None:
    error = _errors.connack_error(code, url="mqtt://h:1")
    assert isinstance(error, ConnectError)
    assert error.reason_code == code
    assert "unknown reason code" not in str(error)
    assert f"0x{code:02X}" in str(error)


@pytest.mark.parametrize(
    "code", failure_codes(mqtt5.PubAckReasonCode, mqtt5.PubRecReasonCode)
)
def test_every_puback_failure_is_a_publish_error(code: int) -> None:
    error = _errors.puback_error(code, topic="t")
    assert isinstance(error, PublishError)
    assert error.reason_code == code
    assert "unknown reason code" not in str(error)


@pytest.mark.parametrize("code", failure_codes(mqtt5.SubAckReasonCode))
def test_every_suback_failure_is_a_subscribe_error(code: int) -> None:
    error = _errors.suback_error(code, topic_filter="t/#")
    assert isinstance(error, SubscribeError)
    assert error.reason_code == code
    assert "unknown reason code" not in str(error)


@pytest.mark.parametrize(
    "code", failure_codes(mqtt5.UnsubAckReasonCode, mqtt5.DisconnectReasonCode)
)
def test_unsuback_and_disconnect_failures_are_described(code: int) -> None:
    assert "unknown reason code" not in _errors.describe_reason(code)
    assert _errors.unsuback_error(code, topic_filter="t").reason_code == code


def test_success_codes_are_below_the_failure_threshold() -> None:
    assert _errors.FAILURE > 0x10  # "No matching subscribers" is a success
    assert _errors.describe_reason(0x10) == "no matching subscribers (0x10)"
    assert _errors.describe_reason(0x87) == "not authorized (0x87)"


def test_the_codec_knows_the_codes_we_test() -> None:
    # Guards the parametrisation above against an empty table in a future codec.
    assert 0x86 in failure_codes(mqtt5.ConnAckReasonCode)
    assert 0x87 in failure_codes(mqtt5.PubAckReasonCode)
    assert 0x8F in failure_codes(mqtt5.SubAckReasonCode)
