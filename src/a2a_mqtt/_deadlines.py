"""Deadlines for many futures on one loop timer (issue #16: CPU per request).

``asyncio.timeout`` per wait costs a ``Timeout``, a ``TimerHandle`` in the loop's
heap, a reschedule and an uncancel bookkeeping step: at 100 requests in flight
that was about 4 % of the requester's CPU (a publish's PUBACK wait and a call's
reply wait each had one) and the agent paid it once per reply publish.
:class:`FutureDeadlines` keeps ``future -> deadline`` in a dict and one timer
armed at the earliest deadline. Waits that end in time only add and remove a
dict entry; the timer fires about once per timeout period under steady load
(each new deadline is later than the one armed) and then scans the few waits
still open.

Invariants: a watched future that is not done by its deadline gets
:class:`DeadlineExpired` (a ``TimeoutError``); a future is expired at most once
and never before ``deadline - SLACK`` on the loop's clock; :meth:`forget` after
the wait (in a ``finally``) keeps the dict as small as the waits in progress.
Call everything on the loop that runs the waits; a different running loop
(a transport reused under a new ``asyncio.run``) starts afresh.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

__all__ = ["DeadlineExpired", "FutureDeadlines"]

SLACK: Final = 0.001
"""Seconds a deadline may fire early: the loop runs timers up to its clock
resolution early, and re-arming for a deadline a hair away would spin."""


class DeadlineExpired(TimeoutError):
    """A watched future's deadline passed before it was done."""


class FutureDeadlines:
    """``future -> deadline`` on one loop timer; see the module docstring."""

    __slots__ = ("_at", "_due", "_loop", "_timer")

    def __init__(self) -> None:
        self._due: dict[asyncio.Future[Any], float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._at = math.inf  # when the timer fires (inf: not armed)

    def watch(self, future: asyncio.Future[Any], deadline: float) -> None:
        """Fail ``future`` with :class:`DeadlineExpired` unless it is done by
        ``deadline`` (the loop's clock)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._reset(loop)
        self._due[future] = deadline
        if deadline < self._at:
            self._arm(deadline)

    def forget(self, future: asyncio.Future[Any]) -> None:
        """Stop watching ``future`` (done, or its waiter gave up)."""
        self._due.pop(future, None)

    def __len__(self) -> int:
        return len(self._due)

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._at = math.inf
        self._due.clear()
        self._loop = loop

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._at = math.inf
        assert self._loop is not None
        now = self._loop.time() + SLACK
        due = self._due
        expired = [future for future, deadline in due.items() if deadline <= now]
        for future in expired:
            del due[future]
            if not future.done():
                future.set_exception(DeadlineExpired())
        if due:
            self._arm(min(due.values()))
