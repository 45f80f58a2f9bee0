"""``payload_encoding`` (docs/binding.md §3.4) is checked where a config is made."""

from __future__ import annotations

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import RequesterConfig
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig


@pytest.mark.parametrize("value", ["auto", "json"])
def test_known_encodings_are_accepted(value: str) -> None:
    assert RequesterConfig(payload_encoding=value).payload_encoding == value
    agent = AgentConfig(ref=AgentRef.parse("o/u/a"), card=echo_card(), executor=EchoExecutor(),
                        payload_encoding=value)
    assert agent.payload_encoding == value


@pytest.mark.parametrize("value", ["protobuf", "JSON", "", "binary"])
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="payload_encoding"):
        RequesterConfig(payload_encoding=value)
    with pytest.raises(ConfigError, match="payload_encoding"):
        AgentConfig(ref=AgentRef.parse("o/u/a"), card=echo_card(), executor=EchoExecutor(),
                    payload_encoding=value)
