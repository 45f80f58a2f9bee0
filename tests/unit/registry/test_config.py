"""RegistryConfig and StalePolicy refuse bad values with one-line reasons."""

from __future__ import annotations

from typing import Any

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.registry import RegistryConfig, StalePolicy


@pytest.mark.parametrize(("overrides", "message"), [
    ({"unit": "u"}, "a unit scope needs an org"),
    ({"org": "a b"}, "org id 'a b' is invalid"),
    ({"http_port": 70000}, "http_port must be in 0..65535"),
    ({"max_card_bytes": 0}, "max_card_bytes must be positive"),
    ({"feed_queue_size": -1}, "feed_queue_size must be positive"),
    ({"admin_token": "short"}, "admin_token must be at least 16 characters"),
    ({"agent_ref": AgentRef("a", "b", "p", pool=True)}, "needs an org/unit/agent"),
    ({"ingest_id": "x/y"}, "ingest id 'x/y' is invalid"),
])
def test_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RegistryConfig(**overrides)


def test_defaults_are_usable_and_copies_get_distinct_ingest_ids() -> None:
    a, b = RegistryConfig(), RegistryConfig()
    assert a.ingest_ref.client_id.startswith("a2a-mqtt/registry/registry-")
    assert a.ingest_id != b.ingest_id
    assert a.stale is None and a.admin_token is None
    assert a.agent_ref == AgentRef("a2a-mqtt", "registry", "registry")


def test_stale_policy() -> None:
    assert StalePolicy(max_offline_age=3600).every == 60.0
    assert StalePolicy(max_offline_age=8).every == 2.0
    assert StalePolicy(max_offline_age=0).every == 1.0
    assert StalePolicy(max_offline_age=10, interval=0.5).every == 0.5
    with pytest.raises(ConfigError, match="max_offline_age must be >= 0"):
        StalePolicy(max_offline_age=-1)
    with pytest.raises(ConfigError, match="interval must be positive"):
        StalePolicy(max_offline_age=1, interval=0)
