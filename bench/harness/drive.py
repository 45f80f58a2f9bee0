"""The load loop: ``n`` requests with ``inflight`` workers, each one timed."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["drive"]

log = logging.getLogger("bench.harness")


async def drive(
    request: Callable[[], Awaitable[object]],
    n: int,
    inflight: int,
    *,
    max_seconds: float | None = None,
    timeout: float = 30.0,
) -> tuple[list[float], float, int]:
    """``n`` requests with ``inflight`` workers, or fewer if ``max_seconds`` runs out
    (no new request starts after it); returns (latencies in seconds, wall seconds,
    errors). A failed or timed-out request counts as an error, never as a latency;
    the first three are logged."""
    latencies: list[float] = []
    errors = 0
    remaining = itertools.count()
    stop_at = time.perf_counter() + max_seconds if max_seconds else float("inf")

    async def worker() -> None:
        nonlocal errors
        while next(remaining) < n and time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    await request()
            except Exception as exc:
                errors += 1
                if errors <= 3:
                    log.warning("request failed: %r", exc)
                continue
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, inflight))))
    return latencies, time.perf_counter() - start, errors
