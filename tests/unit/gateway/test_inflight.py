"""Abortable waits per agent and the open-stream count."""

from __future__ import annotations

import asyncio

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.gateway.errors import AgentUnavailableError
from a2a_mqtt.gateway.presence import Inflight

pytestmark = pytest.mark.asyncio

A, B = AgentRef("o", "u", "a"), AgentRef("o", "u", "b")


async def test_abort_ends_waits_on_that_agent_only() -> None:
    inflight = Inflight()
    entered = {A: asyncio.Event(), B: asyncio.Event()}

    async def wait_on(ref: AgentRef) -> str:
        async with inflight.guard(ref):
            entered[ref].set()
            await asyncio.Event().wait()  # a reply that never comes
        return "unreachable"

    on_a = asyncio.create_task(wait_on(A))
    on_b = asyncio.create_task(wait_on(B))
    await entered[A].wait()
    await entered[B].wait()
    assert inflight.waiting(A) == 1 and inflight.waiting(B) == 1
    assert inflight.abort(A, "died") == 1
    with pytest.raises(AgentUnavailableError, match="agent o/u/a died"):
        await on_a
    assert inflight.waiting(A) == 0 and not on_b.done()
    on_b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await on_b
    assert inflight.waiting(B) == 0


async def test_a_guard_that_finishes_first_is_unaffected() -> None:
    inflight = Inflight()
    async with inflight.guard(A):
        inflight.abort(A, "died")  # the wait below completes before the abort fires
    assert inflight.waiting(A) == 0


async def test_timeouts_inside_a_guard_stay_timeouts() -> None:
    inflight = Inflight()
    with pytest.raises(TimeoutError):
        async with inflight.guard(A), asyncio.timeout(0.01):
            await asyncio.Event().wait()


async def test_stream_count_and_idle() -> None:
    inflight = Inflight()
    await inflight.wait_idle(0.1)
    inflight.stream_opened()
    inflight.stream_opened()
    with pytest.raises(TimeoutError):
        await inflight.wait_idle(0.01)
    inflight.stream_closed()
    assert inflight.open_streams == 1
    inflight.stream_closed()
    await inflight.wait_idle(0.1)
