"""keepcancel: a cancellation swallowed below stays a cancellation; nothing else is one."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from a2a_mqtt.server.keepcancel import kept


async def swallows(started: asyncio.Event) -> str:
    """What a2a-sdk 1.3.0's ``ActiveTask.subscribe`` does with a cancellation."""
    started.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    return "stale"


async def times_out_inside() -> str:
    """A timeout handled below cancels and uncancels the task: not a cancellation."""
    try:
        async with asyncio.timeout(0.01):
            await asyncio.Event().wait()
    except TimeoutError:
        return "timed out"
    raise AssertionError("unreachable")


def test_a_swallowed_cancellation_is_raised_again() -> None:
    async def main() -> None:
        started = asyncio.Event()
        plain = asyncio.create_task(swallows(started))
        await started.wait()
        plain.cancel()
        assert await plain == "stale"  # what the caller would publish, unchecked
        started.clear()
        checked = asyncio.create_task(kept(swallows(started)))
        await started.wait()
        checked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await checked

    asyncio.run(main())


def test_a_timeout_handled_below_is_not_taken_for_a_cancellation() -> None:
    async def main() -> str:
        return await kept(times_out_inside())

    assert asyncio.run(main()) == "timed out"


def test_a_result_passes_through() -> None:
    async def value() -> int:
        await asyncio.sleep(0)
        return 7

    async def main() -> int:
        return await kept(value())

    assert asyncio.run(main()) == 7
