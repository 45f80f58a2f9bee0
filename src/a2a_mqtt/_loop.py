"""The event loop a2a-mqtt's own processes run on: uvloop when it is installed.

Agents, gateways and registries are I/O loops; uvloop (libuv) runs the same
asyncio code with a cheaper loop and socket layer, which is what uvicorn
and asyncpg recommend too. ``A2A_MQTT_LOOP`` chooses: ``auto`` (default:
uvloop if importable), ``uvloop`` (required) or ``asyncio`` (the standard
loop). Libraries embedding a2a-mqtt keep whatever loop they run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from a2a_mqtt.errors import ConfigError

__all__ = ["run"]

_T = TypeVar("_T")
_CHOICES = ("auto", "uvloop", "asyncio")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)`` on the loop ``A2A_MQTT_LOOP`` selects."""
    choice = os.environ.get("A2A_MQTT_LOOP", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        coro.close()
        raise ConfigError(f"A2A_MQTT_LOOP={choice!r}: expected one of {', '.join(_CHOICES)}")
    if choice != "asyncio":
        try:
            import uvloop  # noqa: PLC0415 - optional
        except ImportError:
            if choice == "uvloop":
                coro.close()
                raise ConfigError("A2A_MQTT_LOOP=uvloop, but uvloop is not installed") from None
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)
