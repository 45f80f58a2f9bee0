"""One owned run, driven by its supervisor: decide, record (fenced), then act.

The loop is the one of docs/workflows.md §3 with three differences from the
in-process runner: every event is written under the run's fencing epoch
before anything is sent (write-ahead dispatch); on start the driver re-sends
each attempt left in flight with the SAME Task.id and message id to the SAME
agent (the agent deduplicates and answers from its task store, or resumes the
stream), and a lost stream (a broker restart, a stream gone idle) is
reconciled the same way instead of failing the attempt; and after every
write the caller's stream is continued from the log (``progress``). The log itself
(fold, fenced commit, stream) is :class:`~a2a_mqtt.workflows.runlog.RunLog`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from a2a.utils.errors import A2AError

from a2a_mqtt.binding.stream import new_task_id
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.workflows.actions import Action, CancelAttempt, Dispatch, Expire, Forward, recorded
from a2a_mqtt.workflows.attempts import StepCalls
from a2a_mqtt.workflows.crash import crash_point
from a2a_mqtt.workflows.launch import LaunchRequest
from a2a_mqtt.workflows.leases import Fenced, ReplyTarget
from a2a_mqtt.workflows.runlog import RunLog
from a2a_mqtt.workflows.scheduler import context, in_flight, next_actions, render_parts, wake_at
from a2a_mqtt.workflows.state import (
    AttemptCompleted,
    AttemptDispatched,
    AttemptFailed,
    Event,
    InputForwarded,
    InputProvided,
)

if TYPE_CHECKING:
    from a2a_mqtt.workflows.host import RunHost

__all__ = ["RunDriver"]

log = logging.getLogger("a2a_mqtt.workflows")


class RunDriver(RunLog):
    """Drives one run this supervisor owns at ``epoch``; stops when fenced or finished.

    Events are decided into memory and committed in one fenced transaction before
    anything leaves the process (a request to an agent, a stream item to the caller):
    a step's completion and the next step's dispatch usually share one commit.
    """

    def __init__(self, host: RunHost, run_id: str, epoch: int) -> None:
        super().__init__(host, run_id, epoch)
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.attempts = StepCalls(host, run_id, self.inbox)
        self.wakeup = asyncio.Event()
        self.stopping = False

    def wake(self) -> None:
        """Read the log again (a nudge: another supervisor appended an input)."""
        self.wakeup.set()

    def behind(self, last: int, target: ReplyTarget | None) -> bool:
        """Whether the database (its last position ``last`` and the stream ``target``)
        holds what this driver has not seen, or its stream is behind its log."""
        return last >= self.committed or target != self.target or (
            self.target is not None and self.streamed < self.committed - 1)

    def stop(self) -> None:
        """Leave the loop at the next step boundary (never inside a database call)."""
        self.stopping = True
        self.wakeup.set()

    # --- the loop --------------------------------------------------------------------

    async def drive(self) -> None:
        try:
            if self.state is None:
                await self.load()
            await self.flush()
            assert self.state is not None
            for step, record in in_flight(self.state):
                # Taken over (or restarted): same Task.id, same agent, same message.
                self.resume(step, record.task_id, record.agent)
            while self.state.terminal is None:
                if self.stopping:
                    await self.commit()
                    return
                actions = next_actions(self.state, time.time())
                for action in actions:
                    await self.perform(action)
                if actions:
                    continue
                await self.commit()
                await self.wait()
            await self.commit()
            # The end must reach the caller even if the broker was away just then.
            for delay in (0.2, 0.5, 1.0, 2.0, 2.0, 5.0, 5.0, 10.0):
                if await self.flush(final=True):
                    break
                await asyncio.sleep(delay)
                self._take_row(await self.host.store.run_row(self.run_id))
        except Fenced as exc:
            log.warning("run %s: %s; another supervisor has it now", self.run_id, exc)
        finally:
            await self.attempts.close()

    async def wait(self) -> None:
        """Until an agent answers, a timer is due, or the host wakes us (a nudge, or its
        poll saw inputs or a new stream another supervisor wrote: :meth:`behind`)."""
        assert self.state is not None
        wake = wake_at(self.state)
        timeout = None if wake is None else max(0.0, wake - time.time())
        self.wakeup.clear()
        getter = asyncio.ensure_future(self.inbox.get())
        waker = asyncio.ensure_future(self.wakeup.wait())
        try:
            done, _ = await asyncio.wait({getter, waker}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            await self.outcome(getter.result())
        if self.stopping:
            return
        if getter in done:
            while not self.inbox.empty():
                await self.outcome(self.inbox.get_nowait())
        elif waker in done:
            await self.reload()
            await self.flush()

    async def outcome(self, item: Event) -> None:
        """An agent's answer: record it; a finished attempt is reported to its launcher."""
        if not await self.record(item):
            return
        if isinstance(item, AttemptCompleted):
            await self.host.attempt_finished(self.run_id, item.task_id, "completed")
        elif isinstance(item, AttemptFailed):
            await self.host.attempt_finished(self.run_id, item.task_id,
                                            "timed_out" if item.timed_out else "failed")

    def attempt_lost(self, step: str, task_id: str, reason: str) -> None:
        """The attempt's agent died: stop following it and fail it through the inbox.

        Queued behind any answer already in the inbox, so an answer that arrived first
        wins; a report about an attempt that is no longer current is dropped by the fold."""
        call = self.attempts.calls.pop(task_id, None)
        if call is not None:
            call.cancel()
        self.inbox.put_nowait(AttemptFailed(step, task_id, reason, time.time()))

    async def perform(self, action: Action) -> None:
        if isinstance(action, Dispatch):
            await self.dispatch(action)
            return
        event = recorded(action, time.time())
        if isinstance(action, Forward):
            if await self.record(event):
                # Write-ahead: on record before it is sent; the caller's stream after.
                await self.commit(flush=False)
                if self._current(action.step, action.task_id):
                    turn = self.attempts.turns.get(action.task_id, 0) + 1
                    self.attempts.start(action.step, action.task_id, action.agent, action.parts,
                                        turn)
                await self.flush()
        elif isinstance(action, Expire | CancelAttempt) and action.task_id is not None:
            await self.attempts.stop(action.task_id, action.agent)
            await self.record(event)
            await self.host.attempt_finished(
                self.run_id, action.task_id,
                "timed_out" if isinstance(action, Expire) else "cancelled")
        else:
            await self.record(event)

    async def dispatch(self, action: Dispatch) -> None:
        assert self.state is not None
        task_id = new_task_id()
        crash_point("before_record", action.step)
        step = self.state.workflow.step(action.step)
        try:
            agent = await self.host.agent_for(LaunchRequest(
                run_id=self.run_id, workflow=self.state.workflow.name, step=step,
                task_id=task_id, attempt=action.attempt))
        except (A2AMqttError, A2AError, TimeoutError) as exc:
            # No agent is a failed attempt (retries and on_failure apply), not a crash.
            if await self.record(AttemptDispatched(action.step, task_id, "-", time.time())):
                await self.record(AttemptFailed(action.step, task_id,
                                                f"no agent for {action.selector}: {exc}",
                                                time.time()))
            return
        # Write-ahead: the attempt is on record before the request is published.
        if not await self.record(AttemptDispatched(action.step, task_id, agent, time.time())):
            return
        # The request goes out before the caller's stream items: they wait for PUBACKs.
        await self.commit(flush=False)
        if self._current(action.step, task_id):
            crash_point("after_record", action.step)
            self.attempts.start(action.step, task_id, agent, action.parts, 0)
        # (else a concurrent input, a cancel, made the dispatch moot: nothing sent)
        await self.flush()

    def _current(self, step: str, task_id: str) -> bool:
        assert self.state is not None
        current = self.state.steps[step].current
        return current is not None and current.task_id == task_id

    def resume(self, step: str, task_id: str, agent: str) -> None:
        """Re-send the attempt's last message (dispatch or forwarded reply) unchanged."""
        assert self.state is not None
        turns = [i for i in self.state.events
                 if isinstance(i, InputForwarded) and i.task_id == task_id]
        if turns:
            replies = [i for i in self.state.events
                       if isinstance(i, InputProvided) and i.step == step]
            parts = replies[-1].parts if replies else ()
        else:
            ctx = context(self.state)
            parts = render_parts(self.state.workflow.step(step).input, ctx)
        self.attempts.start(step, task_id, agent, parts, len(turns))
