"""Claim-mode intake: every member's copies of pool requests wait here, oldest first.

In claim mode every member receives every request (see claims.py). Racing for
each copy as it arrives would cost every member one database round trip per
request — the pool's total cost would grow with its size. Instead a member
claims only when it has a free slot, and then in one transaction: it reads
which of its oldest waiting copies others already took, drops those, and
claims the first one left. A member therefore pays one claim per request *it
serves*, however many members the pool has, and the least busy member still
tends to win, which is the balancing a shared subscription would give.

Invariant: a copy leaves the queue only acknowledged — served by us, or known
to be claimed by another member — or answered (the store was unreachable, or
the queue was full), so no request can end unanswered by every member.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from a2a_mqtt.mqtt_types import IncomingMessage
from a2a_mqtt.server.claims import RequestClaims, claim_key

__all__ = ["ClaimQueue"]

log = logging.getLogger("a2a_mqtt.server")

_BATCH: Final = 64


@dataclass(frozen=True, slots=True)
class _Copy:
    msg: IncomingMessage
    key: str
    arrived: float


class ClaimQueue:
    """Waiting copies and the loop that claims them; see the module docstring.

    ``serve`` is called for each copy we won, holding one slot of ``slots``,
    and must release it when done. ``refuse`` answers a copy we could not
    claim because the store failed.
    """

    def __init__(
        self,
        *,
        claims: RequestClaims,
        owner: str,
        slots: asyncio.Semaphore,
        serve: Callable[[IncomingMessage, float], None],
        refuse: Callable[[IncomingMessage], Awaitable[None]],
        batch: int = _BATCH,
    ) -> None:
        self._claims = claims
        self._owner = owner
        self._slots = slots
        self._serve = serve
        self._refuse = refuse
        self._batch = batch
        self._waiting: deque[_Copy] = deque()
        self._more = asyncio.Event()
        self.lost = 0
        """Copies dropped because another member had claimed them."""
        self.won = 0
        """Copies this member claimed (and served)."""

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, msg: IncomingMessage, arrived: float) -> None:
        key = claim_key(msg.properties.response_topic or "", msg.properties.correlation_data)
        self._waiting.append(_Copy(msg, key, arrived))
        self._more.set()

    async def run(self) -> None:
        """Claim copies as slots free up, until cancelled."""
        while True:
            while not self._waiting:
                self._more.clear()
                await self._more.wait()
            # Every slot free right now, in one claim: a burst fills an idle member at
            # once instead of one round trip per slot, which keeps the spread even.
            await self._slots.acquire()
            free = 1
            while free < len(self._waiting) and not self._slots.locked():
                await self._slots.acquire()  # immediate: a permit is available
                free += 1
            try:
                won = await self._take(free)
            except BaseException:
                for _ in range(free):
                    self._slots.release()
                raise
            for _ in range(free - len(won)):
                self._slots.release()
            self.won += len(won)
            for copy in won:
                self._serve(copy.msg, copy.arrived)  # takes over one slot each

    async def _take(self, free: int) -> list[_Copy]:
        batch = [self._waiting[i] for i in range(min(self._batch, len(self._waiting)))]
        try:
            indexes = await self._claims.claim_first([c.key for c in batch], self._owner,
                                                     limit=free)
        except Exception:
            # Nobody may be able to claim it: answer the oldest rather than leave it.
            log.exception("claiming pool requests failed; answering the oldest as unavailable")
            copy = self._waiting.popleft()
            try:
                await self._refuse(copy.msg)
            finally:
                copy.msg.acknowledge()
            return []
        # Up to the last copy won (or the whole batch when fewer than ``free`` were
        # won), every copy not won is held by another member.
        examined = len(batch) if len(indexes) < free else indexes[-1] + 1
        mine = set(indexes)
        won: list[_Copy] = []
        for index in range(examined):
            copy = self._waiting.popleft()
            if index in mine:
                won.append(copy)
            else:
                copy.msg.acknowledge()
                self.lost += 1
        return won

    def release_unclaimed(self) -> int:
        """Forget the waiting copies (stopping); unacknowledged, so a persistent session
        gets them again and the claims table decides once more. Returns how many."""
        count = len(self._waiting)
        self._waiting.clear()
        return count
