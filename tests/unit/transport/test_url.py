"""BrokerURL.parse: schemes, defaults, credentials, paths, errors."""

from __future__ import annotations

import pytest

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.transport import BrokerURL


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "ws"),
    [
        ("mqtt://broker.example", "broker.example", 1883, False, False),
        ("mqtts://broker.example", "broker.example", 8883, True, False),
        ("ws://broker.example", "broker.example", 80, False, True),
        ("wss://broker.example", "broker.example", 443, True, True),
        ("tcp://10.0.0.1:1999", "10.0.0.1", 1999, False, False),
        ("ssl://10.0.0.1", "10.0.0.1", 8883, True, False),
        ("MQTT://Broker:1884", "broker", 1884, False, False),
        ("localhost:1885", "localhost", 1885, False, False),
        ("mqtt://[::1]:1886", "::1", 1886, False, False),
    ],
)
def test_schemes_and_default_ports(url: str, host: str, port: int, tls: bool, ws: bool) -> None:
    parsed = BrokerURL.parse(url)
    assert (parsed.host, parsed.port, parsed.tls, parsed.websockets) == (host, port, tls, ws)
    assert parsed.username is None
    assert parsed.password is None


def test_credentials_are_percent_decoded() -> None:
    parsed = BrokerURL.parse("mqtt://al%40ice:p%3Ass%2Fw@h:1")
    assert parsed.username == "al@ice"
    assert parsed.password == "p:ss/w"
    user_only = BrokerURL.parse("mqtt://bob@h")
    assert user_only.username == "bob"
    assert user_only.password is None


def test_websocket_path_defaults_to_mqtt() -> None:
    assert BrokerURL.parse("ws://h").path == "/mqtt"
    assert BrokerURL.parse("wss://h:9001/custom/path").path == "/custom/path"


def test_str_round_trips_without_credentials() -> None:
    assert str(BrokerURL.parse("mqtt://u:p@h")) == "mqtt://h:1883"
    assert str(BrokerURL.parse("wss://h:9001/x")) == "wss://h:9001/x"
    assert str(BrokerURL.parse("mqtts://h")) == "mqtts://h:8883"
    assert str(BrokerURL.parse("mqtt://[::1]:1")) == "mqtt://[::1]:1"
    again = BrokerURL.parse(str(BrokerURL.parse("ws://h:81/p")))
    assert again == BrokerURL.parse("ws://h:81/p")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://h", "unsupported broker URL scheme"),
        ("amqp://h:5672", "unsupported broker URL scheme"),
        ("mqtt://", "no host"),
        ("mqtt://:1883", "no host"),
        ("mqtt://h:notaport", "invalid port"),
        ("mqtt://h:70000", "invalid port"),
    ],
)
def test_invalid_urls_raise_config_error(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BrokerURL.parse(url)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="scheme"):
        BrokerURL.parse("ftp://h")
