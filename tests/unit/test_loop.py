"""Which event loop a2a-mqtt's processes run on (A2A_MQTT_LOOP), and their collector
(A2A_MQTT_GC)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvloop

from a2a_mqtt import _loop
from a2a_mqtt._loop import run, tune_gc
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


@pytest.fixture
def fresh_gc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The collector as Python sets it, restored afterwards; tune_gc not yet run."""
    saved = gc.get_threshold()
    monkeypatch.setattr(_loop, "_tuned", False)
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*saved)


def test_run_tunes_the_collector_once(monkeypatch: pytest.MonkeyPatch, fresh_gc: None) -> None:
    monkeypatch.delenv("A2A_MQTT_GC", raising=False)
    monkeypatch.setenv("A2A_MQTT_LOOP", "asyncio")
    run(_loop_type())
    assert gc.get_threshold() == (10_000, 10, 10)
    assert gc.get_freeze_count() > 0
    gc.set_threshold(700, 10, 10)
    tune_gc()  # once per process: a second call changes nothing
    assert gc.get_threshold() == (700, 10, 10)


def test_the_collector_can_be_left_alone(monkeypatch: pytest.MonkeyPatch,
                                         fresh_gc: None) -> None:
    monkeypatch.setenv("A2A_MQTT_GC", "default")
    frozen = gc.get_freeze_count()
    tune_gc()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == frozen
    monkeypatch.setenv("A2A_MQTT_GC", "off")
    with pytest.raises(ConfigError, match="A2A_MQTT_GC"):
        run(_loop_type())
