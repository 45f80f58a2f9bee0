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

from a2a_mqtt.server.claims import RequestClaims, claim_key
from a2a_mqtt.transport.base import IncomingMessage

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
            await self._slots.acquire()
            try:
                won = await self._take()
            except BaseException:
                self._slots.release()
                raise
            if won is None:
                self._slots.release()
            else:
                self._serve(won.msg, won.arrived)  # takes over the slot

    async def _take(self) -> _Copy | None:
        batch = [self._waiting[i] for i in range(min(self._batch, len(self._waiting)))]
        try:
            index = await self._claims.claim_first([c.key for c in batch], self._owner)
        except Exception:
            # Nobody may be able to claim it: answer the oldest rather than leave it.
            log.exception("claiming pool requests failed; answering the oldest as unavailable")
            copy = self._waiting.popleft()
            try:
                await self._refuse(copy.msg)
            finally:
                _ack(copy.msg)
            return None
        taken_elsewhere = len(batch) if index is None else index
        for _ in range(taken_elsewhere):
            _ack(self._waiting.popleft().msg)
        self.lost += taken_elsewhere
        return None if index is None else self._waiting.popleft()

    def release_unclaimed(self) -> int:
        """Forget the waiting copies (stopping); unacknowledged, so a persistent session
        gets them again and the claims table decides once more. Returns how many."""
        count = len(self._waiting)
        self._waiting.clear()
        return count


def _ack(msg: IncomingMessage) -> None:
    if msg.ack is not None:
        msg.ack()
