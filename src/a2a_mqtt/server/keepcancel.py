"""Cancellations a2a-sdk swallows, put back.

a2a-sdk 1.3.0's ``ActiveTask.subscribe`` ends quietly on ``CancelledError``: its
``on_message_send`` then returns the task as stored at that moment (often as first
stored), and its streams simply end. A request task cancelled mid-turn (a stop past
``shutdown_grace``) would publish that stale task, or an end marker, as its reply and
release its in-flight entry, so recovery would never answer it
(docs/performance.md, "The collector and a2a-sdk's handler").

Invariant: a request task whose ``cancelling()`` count rose while a2a-sdk ran stays
cancelled; nothing a2a-sdk returned after that point is published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["cancel_count", "kept", "reraise_if_swallowed"]

T = TypeVar("T")


def cancel_count() -> int:
    """The current task's pending cancellation requests (0 outside a task)."""
    current = asyncio.current_task()
    return current.cancelling() if current is not None else 0


def reraise_if_swallowed(before: int) -> None:
    """Raise ``CancelledError`` if the current task was cancelled since ``before``
    (a :func:`cancel_count`) and the cancellation did not reach its caller."""
    if cancel_count() > before:
        raise asyncio.CancelledError


async def kept(reply: Awaitable[T]) -> T:
    """``await reply``, or the cancellation it swallowed."""
    before = cancel_count()
    result = await reply
    reraise_if_swallowed(before)
    return result
