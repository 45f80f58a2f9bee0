"""GatewayConfig validation."""

from __future__ import annotations

from typing import Any

import pytest

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.gateway import GatewayConfig


@pytest.mark.parametrize(("overrides", "words"), [
    ({"port": 70000}, "port"),
    ({"max_body_bytes": 0}, "max_body_bytes"),
    ({"reply_timeout": 0}, "reply_timeout"),
    ({"public_url": "gw.example"}, "public_url"),
    ({"registry_url": "ftp://registry"}, "registry_url"),
    ({"forward_headers": ("Version",)}, "cannot be forwarded"),
    ({"forward_headers": ("Host",)}, "cannot be forwarded"),
    ({"unit": "lab"}, "org"),
    ({"requester_id": "bad id"}, "requester id"),
])
def test_invalid_options_are_refused_with_a_reason(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        GatewayConfig(**overrides)


def test_requester_uses_the_gateway_timeouts() -> None:
    config = GatewayConfig(reply_timeout=3.0, stream_idle_timeout=9.0, max_attempts=2)
    requester = config.requester()
    assert (requester.reply_first_timeout, requester.stream_idle_timeout,
            requester.max_attempts) == (3.0, 9.0, 2)
    assert requester.org == "a2a-mqtt" and requester.unit == "gateway"
