"""Which supervisor takes a workflow request, decided before any work is done on it.

Every supervisor receives every request (Mosquitto 2.0.11 gives no ``$a2a/...`` to
``$share`` subscriptions, see server/claims.py). Racing for each copy in the
database would cost every supervisor a claim per request, so the cost of the group
would grow with its size. Instead each request has a *designated* supervisor:
rendezvous hashing of its claim key over the supervisors that serve the workflow
and are online (their retained presence, kept by Last Wills). The designated one
claims the request at once, with one statement; every other supervisor keeps its
copy unacknowledged and untouched for ``grace`` seconds, then checks the claims of
all its due copies in one statement, drops those another supervisor holds, and
claims the rest itself (the designated one died, is full, or the views of who is
online disagreed). Waiting copies are unacknowledged, and the broker lets only so
many be in flight towards one client: when more than ``max_waiting`` wait, the
oldest are checked at once, before their grace is over.

Invariants:
- the claims table stays the only authority: the hash only decides who tries
  first, so two supervisors that disagree about membership cost a claim, never a
  second answer;
- a copy leaves the queue only acknowledged after it was served by us or found
  held by another supervisor, or unacknowledged when we stop (then the persistent
  session brings it back and the claims table decides again), so no request can
  end unanswered while one supervisor is alive;
- when a supervisor goes offline, the copies it was designated for are re-decided
  at once, so its Will takes over its requests as it takes over its runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from a2a_mqtt.server.claims import RequestClaims
from a2a_mqtt.transport.base import IncomingMessage

__all__ = ["DeferredCopies", "designated"]

log = logging.getLogger("a2a_mqtt.workflows")

_BATCH = 256
# Unacknowledged copies count against the broker's in-flight window towards us
# (Mosquitto's max_inflight_messages, 20 by default; our Receive Maximum): past this
# many waiting, the oldest are checked at once, so deferred copies never hold back
# the requests we are designated for. Then every copy older than _MIN_AGE goes in
# the batch (not just the excess: one read per copy is what this module avoids), and
# younger ones, which their designated supervisor is most likely claiming right now,
# wait.
_MAX_WAITING = 8
_MIN_AGE = 0.1


def designated(key: str, members: Collection[str]) -> str | None:
    """The member that takes request ``key`` first: highest rendezvous weight (pure).

    Adding or removing a member only moves the keys that member wins, so a Will
    re-decides just the requests of the supervisor that died."""
    best: str | None = None
    weight = b""
    for member in members:
        w = hashlib.blake2b(f"{member}\0{key}".encode(), digest_size=8).digest()
        if best is None or w > weight or (w == weight and member > best):
            best, weight = member, w
    return best


@dataclass(frozen=True, slots=True)
class _Copy:
    msg: IncomingMessage
    key: str
    arrived: float
    due: float
    first: str | None
    """The supervisor designated when the copy arrived."""


class DeferredCopies:
    """Copies of requests another supervisor was designated for; see the module docstring.

    ``serve(msg)`` handles a copy we claimed (it acknowledges it when done).
    """

    def __init__(self, *, claims: RequestClaims, owner: str, grace: float,
                 serve: Callable[[IncomingMessage], None],
                 max_waiting: int = _MAX_WAITING, min_age: float = _MIN_AGE,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._claims = claims
        self._owner = owner
        self.grace = grace
        self.max_waiting = max_waiting
        self.min_age = min_age
        self._serve = serve
        self._now = now
        self._waiting: deque[_Copy] = deque()
        self._wake = asyncio.Event()
        self._gone: set[str] = set()
        self.lost = 0
        """Copies dropped because another supervisor held them."""
        self.won = 0
        """Copies we claimed after the grace (their designated supervisor did not)."""

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, msg: IncomingMessage, key: str, first: str | None) -> None:
        now = self._now()
        self._waiting.append(_Copy(msg, key, now, now + self.grace, first))
        if len(self._waiting) == 1 or len(self._waiting) > self.max_waiting:
            self._wake.set()

    def member_gone(self, member: str) -> None:
        """``member`` went offline: the copies it was designated for are due now."""
        self._gone.add(member)
        self._wake.set()

    async def run(self) -> None:
        """Check due copies until cancelled."""
        while True:
            due = self._due()
            if due:
                await self._check(due)
                continue
            self._wake.clear()
            at = self._next_due()
            timeout = None if at is None else max(0.0, at - self._now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _next_due(self) -> float | None:
        """When the oldest copy is due (copies are due in arrival order)."""
        if not self._waiting:
            return None
        first = self._waiting[0]
        if len(self._waiting) > self.max_waiting:
            return min(first.due, first.arrived + self.min_age)
        return first.due

    def _due(self) -> list[_Copy]:
        now, gone = self._now(), self._gone
        self._gone = set()
        if gone:
            keep: deque[_Copy] = deque()
            due: list[_Copy] = []
            for copy in self._waiting:
                (due if copy.due <= now or copy.first in gone else keep).append(copy)
            self._waiting = keep
            return due[:_BATCH] + self._requeue(due[_BATCH:])
        over = len(self._waiting) > self.max_waiting
        due = []
        while self._waiting and len(due) < _BATCH and (
                self._waiting[0].due <= now
                or (over and self._waiting[0].arrived + self.min_age <= now)):
            due.append(self._waiting.popleft())
        return due

    def _requeue(self, rest: list[_Copy]) -> list[_Copy]:
        for copy in reversed(rest):
            self._waiting.appendleft(copy)
        if rest:
            self._wake.set()
        return []

    async def _check(self, due: list[_Copy]) -> None:
        """One read of who holds the due keys; claim the free ones (the rare case)."""
        try:
            won = set(await self._claims.claim_first([c.key for c in due], self._owner,
                                                     limit=len(due)))
        except Exception:
            # The store is away: keep the copies (unacknowledged) and try again later.
            log.exception("checking deferred workflow requests failed; trying again")
            for copy in reversed(due):
                self._waiting.appendleft(_Copy(copy.msg, copy.key, copy.arrived,
                                               self._now() + 1.0, copy.first))
            await asyncio.sleep(1.0)
            return
        for index, copy in enumerate(due):
            if index in won:
                self.won += 1
                self._serve(copy.msg)
            else:
                self.lost += 1
                copy.msg.acknowledge()

    def release(self) -> int:
        """Forget the waiting copies (stopping), unacknowledged; how many."""
        count = len(self._waiting)
        self._waiting.clear()
        return count

