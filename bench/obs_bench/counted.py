"""The worker of bench/observability_instructions.py: the four setups of
:func:`obs_bench.worker.serve_mixed` (``off``, ``metrics``, ``tracing-100``,
``tracing-1``) in one process, each driven for an exact number of calls.

It runs under Valgrind's callgrind, which counts the instructions this process
executes (all its threads), and those of its children, the span export process and
the metrics process, each counted apart. Lines on stdin: ``count K MODE`` settles MODE
with :data:`SETTLE` calls, prints ``go``, waits for one line (the parent has zeroed the
counters meanwhile), makes exactly K unary SendMessage calls at 100 in flight and
prints ``done``; ``quit`` (or EOF) ends it. A count is taken between two moments when
nothing is in flight and the children have done all the work handed to them (the
export process has exported every span, the metrics process has recorded every
observation: :func:`_drain`), so no call is half counted on either side.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import AsyncExitStack
from typing import Any

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import Requester
from obs_bench.worker import IN_FLIGHT, MIXED, Setup, _params, mixed_setups

SETTLE = 200
"""Calls each count is preceded by, in its mode (caches and the allocator settle)."""


async def _calls(requester: Requester, ref: AgentRef, k: int) -> None:
    left = k

    async def one() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            result = await requester.call(ref, "SendMessage", _params())
            if result["task"]["status"]["state"] != "TASK_STATE_COMPLETED":
                raise RuntimeError(f"unexpected result {result}")

    await asyncio.gather(*(one() for _ in range(IN_FLIGHT)))


async def _drain(setup: Setup, handle: Any) -> None:
    """Wait until the children have done what this process handed them: every span
    exported (the export process answers a flush once its batch processor has), every
    metrics observation recorded (a render is a round trip after the hand-over)."""
    _ref, host, _requester, client_metrics = setup
    for metrics in (host.metrics, client_metrics):
        if metrics is not None:
            await asyncio.to_thread(metrics.render)
    if handle.processor is not None:
        flushed = await asyncio.to_thread(handle.processor.force_flush, 600_000)
        if not flushed:
            raise RuntimeError("the span export process did not flush")


async def serve_counted(broker_url: str, sink_url: str) -> None:
    from a2a_mqtt.observability import tracing

    async with AsyncExitStack() as stack:
        setups, tracers, handle = await mixed_setups(stack, broker_url, sink_url,
                                                     label="counted", scrape=False)

        async def drive(k: int, mode: str) -> None:
            ref, _host, requester, _ = setups[mode]
            tracing.use_tracer(tracers.get(mode))
            try:
                await _calls(requester, ref, k)
            finally:
                tracing.use_tracer(None)

        for mode in MIXED:
            await drive(SETTLE, mode)  # warm-up: connections, imports, caches
        print("ready", flush=True)
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if len(line) != 3 or line[0] != "count":
                return  # "quit", or the parent is gone
            k, mode = int(line[1]), line[2]
            await drive(SETTLE, mode)
            await _drain(setups[mode], handle)
            print("go", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            await drive(k, mode)
            await _drain(setups[mode], handle)
            print("done", flush=True)
