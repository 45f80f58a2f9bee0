"""What the cyclic collector finalizes mid-request: a sweep for tests.

asyncio's loop holds tasks and async generators only weakly. A pending task, or a
suspended async generator, that nothing strong reaches any more is left to the
cyclic collector, which finalizes it whenever its thresholds say: the task is
destroyed mid-await, the generator's ``finally`` runs at the collector's moment.
Behaviour that depends on that depends on the collector.

:func:`collector_sweep` makes that moment every loop turn: the collector's own
schedule off, a full collection at every turn of the loop, and a record of each
async generator the collector finalized (through the loop's async-generator
finalizer hook, wrapped with ``sys.set_asyncgen_hooks``) and each task it
destroyed while pending (asyncio reports it to the loop's exception handler).
Replies checked under the sweep are replies no collection could have changed,
and an empty record says the collector had nothing unfinished to take.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["Sweep", "collector_sweep"]


class Sweep:
    """What a sweep saw: ``found`` (one line per object the collector finalized
    unfinished) and ``collections`` (how many it ran)."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.collections = 0


@contextlib.asynccontextmanager
async def collector_sweep() -> AsyncIterator[Sweep]:
    """Yields the :class:`Sweep` it fills."""
    loop = asyncio.get_running_loop()
    record = Sweep()
    found = record.found
    collecting = False
    hooks = sys.get_asyncgen_hooks()
    loop_finalizer = hooks.finalizer
    previous_handler = loop.get_exception_handler()

    def finalizer(agen: Any) -> None:
        if collecting:
            found.append(f"async generator {agen.__qualname__} finalized by the collector")
        if loop_finalizer is not None:
            loop_finalizer(agen)

    def handler(the_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        task = context.get("task")
        if collecting and isinstance(task, asyncio.Task):
            coro = task.get_coro()
            found.append(f"pending task {getattr(coro, '__qualname__', task.get_name())} "
                         "destroyed by the collector")
        if previous_handler is not None:
            previous_handler(the_loop, context)
        else:
            the_loop.default_exception_handler(context)

    def sweep() -> None:
        nonlocal collecting
        collecting = True
        record.collections += 1
        try:
            gc.collect()
        finally:
            collecting = False
        if running:
            loop.call_soon(sweep)

    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    # Generators first iterated from here on take this finalizer (CPython keeps the
    # hook a generator saw at its first iteration).
    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    loop.set_exception_handler(handler)
    running = True
    loop.call_soon(sweep)
    try:
        yield record
    finally:
        running = False
        sweep()
        loop.set_exception_handler(previous_handler)
        sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=loop_finalizer)
        if enabled:
            gc.enable()
