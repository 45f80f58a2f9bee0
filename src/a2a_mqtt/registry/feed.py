"""The change feed: numbered changes fanned out to bounded subscriber queues.

Invariants:

* subscribers see changes in ``seq`` order, each at most once, with no gaps
  except where they are told so (a ``resync`` marker first, or an ``overflow``
  marker last);
* a subscriber's queue never holds more than ``queue_size`` changes: one that
  falls that far behind is dropped with an ``overflow`` marker (after which it
  may resume from its last event id), so a slow reader costs bounded memory;
* the last ``ring_size`` changes are kept, so a reader that reconnects with
  its last event id (``EPOCH-SEQ``) misses nothing if it was away briefly;
  a backlog longer than ``queue_size`` gets ``resync`` instead (replaying it
  would overflow at once, and the reader would retry the same id forever).
  ``EPOCH`` is random per instance: an id from another instance (or an older
  run) gets ``resync``, never a wrong replay.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final, Literal

from a2a_mqtt.registry.entry import Change

__all__ = ["ChangeFeed", "FeedSubscription", "Marker"]

Marker = Literal["resync", "overflow", "closed"]
_CLOSED: Final = "closed"


class FeedSubscription:
    """One reader's queue; iterate with :meth:`next`, end with :meth:`close`."""

    def __init__(self, feed: ChangeFeed, *, queue_size: int,
                 match: Callable[[Change], bool] | None) -> None:
        self._feed = feed
        self._match = match
        self._limit = queue_size
        self._queue: deque[Change | Marker] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self.last_seq = feed.seq

    def _offer(self, changes: Iterable[Change]) -> None:
        if self._ended:
            return
        match = self._match
        for change in changes:
            if match is not None and not match(change):
                continue
            if len(self._queue) >= self._limit:
                self._queue.clear()
                self._end("overflow")
                return
            self._queue.append(change)
        if self._queue:
            self._wakeup.set()

    def _end(self, marker: Marker) -> None:
        if not self._ended:
            self._ended = True
            self._queue.append(marker)
            self._wakeup.set()
            self._feed._drop(self)

    async def next(self, timeout: float | None = None) -> Change | Marker | None:
        """The next change or marker; None if nothing came within ``timeout`` seconds.

        After ``overflow`` or ``closed`` the subscription is over.
        """
        while not self._queue:
            if self._ended:
                return _CLOSED
            self._wakeup.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        item = self._queue.popleft()
        if not isinstance(item, str):
            self.last_seq = item.seq
        return item

    def close(self) -> None:
        """Stop receiving; safe to call more than once."""
        self._ended = True
        self._queue.clear()
        self._feed._drop(self)


class ChangeFeed:
    """Fans changes out to subscribers and keeps the last ``ring_size`` for resumption."""

    def __init__(self, *, ring_size: int = 10_000, queue_size: int = 1_000,
                 epoch: str | None = None) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self.seq = 0
        self._ring: deque[Change] = deque(maxlen=ring_size)
        self._queue_size = queue_size
        self._subscribers: set[FeedSubscription] = set()
        self._closed = False

    def event_id(self, seq: int | None = None) -> str:
        """``EPOCH-SEQ``: what an SSE client sends back as ``Last-Event-ID``."""
        return f"{self.epoch}-{self.seq if seq is None else seq}"

    def parse_event_id(self, text: str) -> int | None:
        """The seq of one of our event ids; None for an id of another instance or run."""
        epoch, sep, seq = text.strip().rpartition("-")
        if not sep or epoch != self.epoch or not seq.isdigit():
            return None
        value = int(seq)
        return value if value <= self.seq else None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, changes: list[Change]) -> None:
        """Record changes (in seq order) and offer them to every subscriber."""
        if not changes:
            return
        self._ring.extend(changes)
        self.seq = changes[-1].seq
        for subscriber in list(self._subscribers):
            subscriber._offer(changes)

    def subscribe(self, *, after: int | None = None,
                  match: Callable[[Change], bool] | None = None,
                  resync: bool = False) -> FeedSubscription:
        """A subscription to changes after ``after`` (default: from now on).

        If changes after ``after`` are no longer in the ring, or more of them
        match than one queue holds, or ``resync`` is set (an unknown event id),
        the subscription starts with a ``resync`` marker and continues live.
        """
        sub = FeedSubscription(self, queue_size=self._queue_size, match=match)
        if self._closed:
            sub._end("closed")
            return sub
        if resync:
            sub._queue.append("resync")
        elif after is not None and after < self.seq:
            oldest = self._ring[0].seq if self._ring else self.seq + 1
            backlog = [] if after + 1 < oldest else [
                c for c in self._ring if c.seq > after and (match is None or match(c))]
            if after + 1 < oldest or len(backlog) > self._queue_size:
                # Too old, or more than one queue: replaying it would only overflow, and
                # the reader would come back with the same id forever.
                sub._queue.append("resync")
            else:
                sub._offer(backlog)
        if not sub._ended:
            self._subscribers.add(sub)
        return sub

    def close(self) -> None:
        """End every subscription with ``closed``; later subscriptions end at once."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber._end("closed")

    def _drop(self, subscriber: FeedSubscription) -> None:
        self._subscribers.discard(subscriber)
