"""The log of one owned run, as its driver holds it: fold, fenced commit, stream.

``RunLog`` keeps the run's state after every event (``states[seq]``), writes the
events recorded in memory in one fenced transaction (``commit``; a position taken
meanwhile is read and ours are folded again on top), and continues the caller's
stream from the committed log (``flush``, at least once, in order). The loop that
decides what to record is :class:`~a2a_mqtt.workflows.driver.RunDriver`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from a2a_mqtt.workflows.fold import apply
from a2a_mqtt.workflows.leases import Fenced, ReplyTarget, SeqTaken
from a2a_mqtt.workflows.progress import ends_stream, stream_items
from a2a_mqtt.workflows.state import Event, RunStarted, RunState, start_run

if TYPE_CHECKING:
    from a2a_mqtt.workflows.host import RunHost

__all__ = ["RunLog", "reply_target"]


def reply_target(row: Any) -> ReplyTarget | None:
    """Where a run row says the caller's stream goes (None: no stream open)."""
    if row is None or row.reply_topic is None:
        return None
    return ReplyTarget(row.reply_topic, row.reply_corr, row.reply_rid or "null")


class RunLog:
    """One run's log at ``epoch``: what is committed, what is recorded, what is streamed."""

    def __init__(self, host: RunHost, run_id: str, epoch: int) -> None:
        self.host = host
        self.run_id = run_id
        self.epoch = epoch
        self.state: RunState | None = None
        self.states: list[RunState] = []        # the state after each event (log position)
        self.committed = 0                       # events[:committed] are in the database
        self.target: ReplyTarget | None = None   # the caller's stream, as last read
        self.streamed = -1                       # the last position sent to ``target``
        self.streamed_saved = -1                 # ... and recorded in the database

    async def load(self) -> None:
        row = await self.host.store.run_row(self.run_id)
        workflow = self.host.workflows[row.workflow]
        state: RunState | None = None
        for item in await self.host.store.events_after(self.run_id, -1):
            if state is None:
                assert isinstance(item, RunStarted)
                state = start_run(self.run_id, workflow, item.inputs, at=item.at)
            else:
                state = _fold(state, item)
            self.states.append(state)
        assert state is not None
        self.state = state
        self.committed = len(state.events)
        self._take_row(row)

    def adopt(self, state: RunState, target: ReplyTarget | None) -> None:
        """Start from a run this supervisor has just created (its log is ``state``'s one
        event, committed): no read back."""
        self.state = state
        self.states = [state]
        self.committed = len(state.events)
        self.target = target

    def _take_row(self, row: Any) -> None:
        target = reply_target(row)
        if target is None:
            self.target = None
            return
        if target != self.target:
            self.target = target
            self.streamed = self.streamed_saved = row.reply_seq

    async def reload(self) -> bool:
        """Fold events others appended (a caller's reply or cancel); True if any.

        Only called with nothing uncommitted; also re-reads where the stream goes."""
        assert self.state is not None
        assert self.committed == len(self.state.events)
        newer = await self.host.store.events_after(self.run_id, self.committed - 1)
        for item in newer:
            self.state = _fold(self.state, item)
            self.states.append(self.state)
        self.committed = len(self.state.events)
        self._take_row(await self.host.store.run_row(self.run_id))
        return bool(newer)

    async def record(self, item: Event) -> bool:
        """Fold ``item`` into the run (in memory until :meth:`commit`); False if stale."""
        assert self.state is not None
        new = apply(self.state, item)
        if new is self.state:
            return False
        self.state = new
        self.states.append(new)
        return True

    async def commit(self, *, flush: bool = True) -> None:
        """Write every recorded event in one fenced transaction, then stream them.

        A position taken meanwhile (an input another supervisor appended) means: read
        it, fold our events again on top (the fold drops any that no longer apply),
        and try again. Raises Fenced when another supervisor owns the run now."""
        for _ in range(50):
            assert self.state is not None
            pending = list(self.state.events[self.committed:])
            if not pending:
                break
            saved = self.streamed if self.streamed != self.streamed_saved else None
            try:
                await self.host.leases.append_many(
                    self.run_id, self.epoch, self.committed, pending,
                    status=self.state.status, error=self.state.error,
                    reply=self.target if saved is not None else None, streamed=saved)
            except SeqTaken:
                self.state = self.states[self.committed - 1]
                del self.states[self.committed:]
                await self.reload()
                for item in pending:
                    await self.record(item)
                continue
            self.committed = len(self.state.events)
            if saved is not None:
                self.streamed_saved = saved
            break
        else:
            raise Fenced(f"run {self.run_id}: could not append after 50 tries")
        if flush:
            await self.flush()

    async def flush(self, *, final: bool = False) -> bool:
        """Continue the caller's stream with the committed events it has not been sent.

        False if the broker did not take an item: the stream stays at the last item
        it took, and the next flush starts there (at least once, in order). The
        position streamed is saved with the next commit; at the end of a stream (or
        with ``final``) at once, closing it."""
        target = self.target
        if target is None:
            return True
        ended = delivered = False
        for seq in range(self.streamed + 1, self.committed):
            delivered = True
            for item in stream_items(self.states[seq], seq):
                ended = ends_stream(item)
                delivered = await self.host.publish_item(target, item, end=ended)
                if ended or not delivered:
                    break
            if not delivered:
                ended = False
                break
            self.streamed = seq
            if ended:
                break
        finished = ended and self.state is not None and self.state.terminal is not None
        if (ended and not finished) or (final and self.streamed != self.streamed_saved):
            # A finished run's stream position is never read again (no supervisor takes
            # a finished run over, and a request on it gets the final task), so its end
            # costs no write; a stream that ends at input-required is recorded closed.
            await self.host.leases.mark_streamed(self.run_id, target, self.streamed, ended=ended)
        if ended or final:
            self.streamed_saved = self.streamed
            if ended:
                self.target = None
        return self.streamed >= self.committed - 1


def _fold(state: RunState, item: Event) -> RunState:
    """Apply a logged event; one the fold ignores (an input that came too late) still
    takes its position, so ``state.events[seq]`` is the log's event ``seq``."""
    new = apply(state, item)
    if new is state:
        new = dataclasses.replace(state, events=(*state.events, item))
    return new
