"""The group commit on a SQLite file: batches taken and committed on the writer thread,
back to back, without a trip through the event loop between two of them.

Before (stores "Round 5", docs/performance.md): the writer task on the loop took a
batch, handed it to the writer thread (``run_in_executor``), waited for the result,
settled the callers, and only then took the next batch. Timed in the agent at 100 in
flight: a batch cycle of 8-10 ms, of which the transaction on the thread was 5 ms; the
rest was the two hand-overs (the thread, asleep since its last batch, woke and got a
core and the GIL 2.3-3.6 ms after the hand-over; the loop resumed the writer task
0.5-1.2 ms after the commit). The writer was busy 87-94 % of the time while the loop
thread used 57 % of a core: the requests waited on the hand-overs.

Here the thread takes the next batch itself as soon as a commit is done, so it stays
awake while work is queued, and the loop only settles each committed batch's callers
(one ``call_soon_threadsafe`` per batch). Everything else is as before:

* **What goes into a batch.** The loop hands over what its callers submitted during one
  loop iteration as one list, at the start of the next iteration (as the writer task
  woke before: a turn's behind writes and its turn-ending write, submitted in one step,
  land in one batch, so :func:`~a2a_mqtt.server.batchwrite.chains` still joins them);
  the thread takes every list waiting at that moment, up to ``max_batch`` operations.
* **Order.** Batches are committed in queue order, one at a time; a batch's callers
  are settled after its commit, in the order the loop receives the settlements (the
  thread's order).
* **Versions lost.** ``lost`` is copied at the start of each attempt and the copy
  replaces it only after the commit, as before (the copy and the replacement are single
  C-level operations under the GIL).
* **Failures.** A transient error (``dbops.is_transient``: the file's lock, a busy
  database) is retried on the thread with the same jittered backoff as
  :func:`~a2a_mqtt.server.dbops.retry_transient`; a batch that still fails is handed to
  the loop, which commits it one operation at a time in queue order (each decides its
  own fate, as before), and the thread waits for that before its next batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Final

from a2a_mqtt.server import sqlitebatch
from a2a_mqtt.server.batchwrite import Lost, Write
from a2a_mqtt.server.dbops import retry_transient_sync
from a2a_mqtt.server.sqlitewriter import SqliteWriter
from a2a_mqtt.server.turnbatch import Claim, Release

__all__ = ["SqliteFeed"]

log = logging.getLogger("a2a_mqtt.server")

Op = Write | Claim | Release
_STOP: Final = object()
_IDLE: Final = 0.25
"""Seconds the thread's job waits for work before it ends (restarted on demand)."""
Settle = Callable[[Sequence[Op], sqlitebatch.Result], None]
Fallback = Callable[[Sequence[Op], BaseException], Coroutine[Any, Any, None]]


class SqliteFeed:
    """Operations to the writer thread, batches committed there one after another.

    ``lost`` reads and ``keep_lost`` replaces the writer's lost versions; ``settle`` (on
    the loop) hands a committed batch's outcomes to its callers; ``fallback`` (a
    coroutine on the loop) commits a failed batch one operation at a time.

    The thread's loop is a job on the writer's executor thread that ends after
    ``_IDLE`` seconds without work (so the interpreter's exit, which joins executor
    threads, never waits on it) and is started again by the next hand-over; ``_lock``
    makes "nothing queued, so end" and "queued, so (re)start" exclusive, so no list is
    left in the inbox without a job to take it.
    """

    def __init__(self, writer: SqliteWriter, *, max_batch: int,
                 lost: Callable[[], Lost], keep_lost: Callable[[Lost], None],
                 settle: Settle, fallback: Fallback) -> None:
        self._writer = writer
        self._max_batch = max_batch
        self._lost = lost
        self._keep_lost = keep_lost
        self._settle = settle
        self._fallback = fallback
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._gathered: list[Op] = []  # submitted in this loop iteration (loop thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._running = False  # a job is taking from the inbox (under _lock)
        self._job: asyncio.Future[None] | None = None  # the last job started

    def submit(self, op: Op) -> None:
        """Queue ``op`` (on the loop): handed to the thread at the next loop iteration."""
        if not self._gathered:
            loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._hand_over)
        self._gathered.append(op)

    def _hand_over(self) -> None:
        ops, self._gathered = self._gathered, []
        if not ops:  # aclose handed them over already
            return
        with self._lock:
            self._inbox.put(ops)
            if not self._running:
                self._running = True
                self._job = self._writer.start(self._serve)

    async def aclose(self) -> None:
        """Commit what is queued, then end the thread's job (its callers are settled
        when this returns: their settlements were queued on the loop before the job's
        end)."""
        self._hand_over()
        with self._lock:
            if self._running:
                self._inbox.put(_STOP)
        if self._job is not None:
            await self._job

    # --- on the writer thread ---

    def _serve(self) -> None:
        try:
            ended_idle = self._serve_batches()
        except BaseException:
            # An unexpected error must not leave the inbox without a taker: the next
            # hand-over starts another job.
            self._end()
            raise
        if not ended_idle:  # stopped, or the loop is gone
            self._end()

    def _end(self) -> None:
        with self._lock:
            self._running = False

    def _serve_batches(self) -> bool:
        """Batches until stopped (False), the loop is gone (False) or no work came for
        ``_IDLE`` seconds (True: ``_running`` was cleared with the inbox seen empty)."""
        backlog: deque[Op] = deque()
        stopping = False
        while True:
            if not backlog:
                taken = self._take(backlog)
                if taken is not None:
                    return taken
            while len(backlog) < self._max_batch and not stopping:
                try:
                    got = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if got is _STOP:
                    stopping = True
                else:
                    backlog.extend(got)
            batch = [backlog.popleft() for _ in range(min(len(backlog), self._max_batch))]
            if batch and not self._commit(batch):
                return False
            if stopping and not backlog:
                return False

    def _take(self, backlog: deque[Op]) -> bool | None:
        """Wait for the next list (without the GIL) into ``backlog`` (None); True: idle
        for ``_IDLE`` seconds, the job ends (``_running`` cleared); False: stopped."""
        while True:
            try:
                got = self._inbox.get(timeout=_IDLE)
            except queue.Empty:
                with self._lock:
                    if self._inbox.empty():
                        self._running = False
                        return True
                continue
            if got is _STOP:
                return False
            backlog.extend(got)
            return None

    def _commit(self, batch: list[Op]) -> bool:
        """Commit ``batch`` (or have the loop commit it one by one); False if the loop
        is gone (the job ends)."""
        loop = self._loop
        assert loop is not None
        writes = [op for op in batch if isinstance(op, Write)]
        claims = [op for op in batch if isinstance(op, Claim)]
        releases = [op for op in batch if isinstance(op, Release)]

        def attempt() -> sqlitebatch.Result:
            lost = OrderedDict(self._lost())  # kept only if the batch commits
            return self._writer.run(partial(sqlitebatch.apply_all, writes=writes,
                                            claims=claims, releases=releases, lost=lost))

        try:
            result = retry_transient_sync(attempt, what="group commit")
        except Exception as exc:  # each operation alone decides its fate
            # One operation may be what fails the batch: the loop commits each alone, in
            # queue order, and this thread waits for that (the next batch may build on
            # them).
            return self._fall_back(loop, batch, exc)
        self._keep_lost(result[1])
        return self._on_loop(loop, partial(self._settle, batch, result))

    def _fall_back(self, loop: asyncio.AbstractEventLoop, batch: list[Op],
                   exc: BaseException) -> bool:
        try:
            done = asyncio.run_coroutine_threadsafe(self._fallback(batch, exc), loop)
        except RuntimeError:  # the loop is closed: nobody waits for these any more
            return False
        while True:
            try:
                done.result(timeout=_IDLE)
            except concurrent.futures.TimeoutError:
                if loop.is_closed():
                    return False
                continue
            except Exception:  # the fallback settles every caller itself; go on
                log.exception("group commit: the one-by-one fallback failed")
            return True

    def _on_loop(self, loop: asyncio.AbstractEventLoop, call: Callable[[], None]) -> bool:
        try:
            loop.call_soon_threadsafe(call)
        except RuntimeError:  # the loop is closed: nobody waits for these any more
            return False
        return True
