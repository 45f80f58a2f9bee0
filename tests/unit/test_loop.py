"""Which event loop a2a-mqtt's processes run on (A2A_MQTT_LOOP)."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from a2a_mqtt._loop import run
from a2a_mqtt.errors import ConfigError


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


@pytest.mark.parametrize(("choice", "expected"), [
    ("", uvloop.Loop), ("auto", uvloop.Loop), ("uvloop", uvloop.Loop),
    ("asyncio", asyncio.SelectorEventLoop), ("AsyncIO", asyncio.SelectorEventLoop),
])
def test_the_loop_follows_the_environment(monkeypatch: pytest.MonkeyPatch, choice: str,
                                          expected: type) -> None:
    monkeypatch.setenv("A2A_MQTT_LOOP", choice)
    assert issubclass(run(_loop_type()), expected)


def test_an_unknown_loop_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_MQTT_LOOP", "trio")
    with pytest.raises(ConfigError, match="A2A_MQTT_LOOP"):
        run(_loop_type())
