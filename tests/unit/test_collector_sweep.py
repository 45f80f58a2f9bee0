"""tests/collector.py's sweep finds what only the collector finalizes, and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tests.collector import collector_sweep


async def _numbers() -> AsyncIterator[int]:
    try:
        yield 1
        yield 2
    finally:
        pass


class _Box:
    """Holds itself: whatever it holds is freed by the collector only."""

    def __init__(self, held: Any) -> None:
        self.me = self
        self.held = held


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()


def test_a_generator_and_a_task_held_by_a_cycle_are_found() -> None:
    async def run() -> list[str]:
        async with collector_sweep() as sweep:
            gen = _numbers()
            await anext(gen)
            _Box(gen)
            del gen
            # A task that nothing holds, awaiting a future only it reaches.
            asyncio.get_running_loop().create_task(_forever())
            for _ in range(3):
                await asyncio.sleep(0)
        return sweep.found

    found = asyncio.run(run())
    assert sorted(found) == [
        "async generator _numbers finalized by the collector",
        "pending task _forever destroyed by the collector",
    ]


def test_what_reference_counting_frees_is_not_found() -> None:
    async def run() -> tuple[list[str], int]:
        async with collector_sweep() as sweep:
            gen = _numbers()
            await anext(gen)
            del gen  # finalized at once, by its reference count
            task = asyncio.get_running_loop().create_task(_forever())
            for _ in range(3):
                await asyncio.sleep(0)
            task.cancel()
        return sweep.found, sweep.collections

    found, collections = asyncio.run(run())
    assert found == [] and collections >= 3
