"""FutureDeadlines: many waits on one loop timer, each failed at its own deadline."""

from __future__ import annotations

import asyncio

import pytest

from a2a_mqtt._deadlines import SLACK, DeadlineExpired, FutureDeadlines


@pytest.mark.asyncio
async def test_a_future_not_done_by_its_deadline_fails_and_a_done_one_is_left_alone() -> None:
    loop = asyncio.get_running_loop()
    deadlines = FutureDeadlines()
    late, early = loop.create_future(), loop.create_future()
    deadlines.watch(late, loop.time() + 0.05)
    deadlines.watch(early, loop.time() + 0.05)
    early.set_result(1)
    started = loop.time()
    with pytest.raises(DeadlineExpired):
        await late
    assert loop.time() - started >= 0.05 - SLACK
    assert early.result() == 1
    assert len(deadlines) == 0  # both gone: expired, and done before the timer fired


@pytest.mark.asyncio
async def test_an_earlier_deadline_rearms_the_timer_and_later_ones_still_fire() -> None:
    loop = asyncio.get_running_loop()
    deadlines = FutureDeadlines()
    slow, fast = loop.create_future(), loop.create_future()
    deadlines.watch(slow, loop.time() + 0.2)
    deadlines.watch(fast, loop.time() + 0.02)  # earlier than the armed one
    started = loop.time()
    with pytest.raises(DeadlineExpired):
        await fast
    assert loop.time() - started < 0.15 and not slow.done()
    with pytest.raises(DeadlineExpired):
        await slow
    assert loop.time() - started >= 0.2 - SLACK


@pytest.mark.asyncio
async def test_forgotten_futures_are_never_failed() -> None:
    loop = asyncio.get_running_loop()
    deadlines = FutureDeadlines()
    kept, forgotten = loop.create_future(), loop.create_future()
    deadlines.watch(forgotten, loop.time() + 0.01)
    deadlines.watch(kept, loop.time() + 0.03)
    deadlines.forget(forgotten)
    with pytest.raises(DeadlineExpired):
        await kept
    assert not forgotten.done()


@pytest.mark.asyncio
async def test_a_cancelled_waiter_is_not_failed_again() -> None:
    loop = asyncio.get_running_loop()
    deadlines = FutureDeadlines()
    future: asyncio.Future[None] = loop.create_future()
    deadlines.watch(future, loop.time() + 0.01)
    future.cancel()
    probe: asyncio.Future[None] = loop.create_future()
    deadlines.watch(probe, loop.time() + 0.02)
    with pytest.raises(DeadlineExpired):
        await probe
    assert future.cancelled()


def test_a_new_loop_starts_afresh() -> None:
    deadlines = FutureDeadlines()

    async def leave_one_armed() -> None:
        loop = asyncio.get_running_loop()
        deadlines.watch(loop.create_future(), loop.time() + 0.01)  # the loop ends first

    async def wait(seconds: float) -> float:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        deadlines.watch(future, loop.time() + seconds)
        started = loop.time()
        with pytest.raises(DeadlineExpired):
            await future
        return loop.time() - started

    asyncio.run(leave_one_armed())
    # The first loop's timer died with it; the second loop arms its own, although
    # its deadline is later than the one armed on the first.
    assert asyncio.run(asyncio.wait_for(wait(0.05), 5)) < 1.0
