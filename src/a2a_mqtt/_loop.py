"""The event loop a2a-mqtt's own processes run on: uvloop when it is installed.

Agents, gateways and registries are I/O loops; uvloop (libuv) runs the same
asyncio code with a cheaper loop and socket layer, which is what uvicorn
and asyncpg recommend too. ``A2A_MQTT_LOOP`` chooses: ``auto`` (default:
uvloop if importable), ``uvloop`` (required) or ``asyncio`` (the standard
loop). Libraries embedding a2a-mqtt keep whatever loop they run.

The same processes tune Python's cyclic garbage collector for serving
(:func:`tune_gc`): ``A2A_MQTT_GC=default`` leaves it as Python sets it.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from a2a_mqtt.errors import ConfigError

__all__ = ["run", "tune_gc"]

_T = TypeVar("_T")
_CHOICES = ("auto", "uvloop", "asyncio")
_GC_CHOICES = ("tuned", "default")
_GEN0_THRESHOLD = 10_000
"""Allocations between young collections (Python's default: 700)."""
_tuned = False


def tune_gc() -> None:
    """Tune the collector for a serving process, once per process (``A2A_MQTT_GC``).

    An agent at 100 requests in flight spent 7.5 % of its CPU in the collector
    (docs/performance.md, "Round 3"): the young generation filled every 700
    allocations, so objects of requests still in flight were traversed and
    promoted again and again, and every full collection walked the whole heap of
    imported modules (a2a-sdk, protobuf, pydantic). So: collect what is garbage
    now, freeze the survivors (start-up objects live as long as the process; a
    frozen object is never traversed again, nor freed), and let the young
    generation take 10,000 allocations. It changes when memory held in reference
    cycles is freed, never what a program computes.
    """
    global _tuned  # noqa: PLW0603 - once per process
    choice = os.environ.get("A2A_MQTT_GC", "tuned").strip().lower() or "tuned"
    if choice not in _GC_CHOICES:
        raise ConfigError(f"A2A_MQTT_GC={choice!r}: expected one of {', '.join(_GC_CHOICES)}")
    if _tuned or choice == "default":
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, _GEN0_THRESHOLD), gen1, gen2)


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)`` on the loop ``A2A_MQTT_LOOP`` selects, after :func:`tune_gc`."""
    choice = os.environ.get("A2A_MQTT_LOOP", "auto").strip().lower() or "auto"
    if choice not in _CHOICES:
        coro.close()
        raise ConfigError(f"A2A_MQTT_LOOP={choice!r}: expected one of {', '.join(_CHOICES)}")
    try:
        tune_gc()
    except ConfigError:
        coro.close()
        raise
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
