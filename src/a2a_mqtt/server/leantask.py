"""One task on the fast path: a2a-sdk's ActiveTask rules, run inline (issue #16).

a2a-sdk 1.3's ``ActiveTask`` runs a producer task (the executor) and a consumer
task (the store) joined by cross-thread queues, and fans events out to
subscribers through more queues. :class:`LeanTask` keeps the same rules on one
loop without that machinery:

* the executor runs in one named asyncio task per turn (so a CancelTask can
  stop it, as a2a-sdk cancels its producer);
* each event the executor enqueues is consumed *before* ``enqueue_event``
  returns, with the rules of a2a-sdk's ``EventConsumer`` and its ``TaskManager``
  (kept by :class:`~a2a_mqtt.server.ledger.TaskLedger`): the task is stored at
  its first event and after every update, exactly as the full handler stores it
  (:meth:`LeanTask.consume`);
* listeners (the waiting SendMessage, a stream, a SubscribeToTask) get each
  consumed event synchronously; the ones that outlive the call hold a queue.

Invariants, from a2a-sdk's ActiveTask: one turn at a time per task, in arrival
order; a task is *finished* at a terminal state, a Message or a consumer
failure (then new requests for it are refused or go by the store), and
*closed* when its last turn ends finished (then every listener ends). A turn
that ends neither terminal nor failed leaves the task parked for the next one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.cluster import VersionedTaskStore
from a2a.server.cluster.event_stream import TaskEventStream, VersionedEvent
from a2a.server.cluster.task_store import ConcurrentTaskModificationError
from a2a.server.context import ServerCallContext
from a2a.server.events import Event, EventQueue
from a2a.server.tasks import TaskManager, TaskStore
from a2a.types.a2a_pb2 import (
    Message,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InternalError, InvalidAgentResponseError

from a2a_mqtt.server.ledger import TaskLedger
from a2a_mqtt.telemetry import a2a_sdk_spans_on

__all__ = ["INTERRUPTED", "TERMINAL", "LeanTask", "Listener", "new_manager"]

log = logging.getLogger(__name__)

S = TaskState
#: a2a-sdk's TERMINAL_TASK_STATES and INTERRUPTED_TASK_STATES.
TERMINAL: Final = frozenset({S.TASK_STATE_COMPLETED, S.TASK_STATE_CANCELED,
                             S.TASK_STATE_FAILED, S.TASK_STATE_REJECTED})
INTERRUPTED: Final = frozenset({S.TASK_STATE_AUTH_REQUIRED, S.TASK_STATE_INPUT_REQUIRED})
_EVENTS: Final = (Message, Task, TaskStatusUpdateEvent, TaskArtifactUpdateEvent)
_UNSPECIFIED: Final = int(S.TASK_STATE_UNSPECIFIED)  # read once: the enum wrapper is slow
_RUNNING: set[asyncio.Task[None]] = set()


class Listener(Protocol):
    """Hears a task's consumed events, as a2a-sdk's subscriber queues do."""

    def event(self, event: Any, task: Task | None) -> None:
        """One consumed event (or the exception that ended the consumer) and the task
        after it (None for a Message). ``task`` is the live object: copy to keep."""

    def end(self) -> None:
        """No more events for this listener."""


class _InlineQueue(EventQueue):
    """The executor's queue: consumes each event before returning.

    It holds its task weakly: a strong reference back would make every task a
    reference cycle, freed only by the cyclic collector (issue #16, Round 5: the
    collector was 8 % of the agent's CPU). A task is held elsewhere while it is
    running a turn (the turn's frame) or not finished (the handler's registry);
    what an executor's background work enqueues after that, when nothing holds
    the task any more, is dropped, as a2a-sdk's consumer stops at a terminal
    state and drops what comes after it.
    """

    def __init__(self, owner: LeanTask) -> None:
        self._owner = weakref.ref(owner)

    async def enqueue_event(self, event: Event) -> None:
        owner = self._owner()
        if owner is not None:
            await owner.consume(event)


Manager = TaskLedger | TaskManager


@functools.cache
def _manager_class() -> type[TaskLedger] | type[TaskManager]:
    """TaskLedger keeps a2a-sdk's TaskManager rules without its per-call costs; when
    a2a-sdk's own spans are on (the user asked for them: telemetry.py), a2a-sdk's
    TaskManager itself runs, so its spans join the trace as they would in a2a-sdk.
    Fixed per process: a2a-sdk reads its switch once, at import."""
    return TaskManager if a2a_sdk_spans_on() else TaskLedger


def new_manager(store: TaskStore | VersionedTaskStore, context: ServerCallContext, task_id: str,
                 context_id: str | None, initial_message: Message | None) -> Manager:
    """The task manager a lean turn keeps its task with (see :func:`_manager_class`)."""
    return _manager_class()(store, context, task_id, context_id, initial_message)


class LeanTask:
    """One task's turns, stored event by event; see the module docstring."""

    def __init__(self, *, task_id: str, context_id: str, store: TaskStore | Any,
                 executor: AgentExecutor, initial_message: Message | None,
                 event_stream: TaskEventStream | None,
                 on_finished: Callable[[LeanTask], None],
                 interrupted_timeout: float | None = None) -> None:
        self.task_id = task_id
        self.context_id = context_id
        self.store = store
        self.executor = executor
        self.initial_message = initial_message
        self.event_stream = event_stream
        self.on_finished = on_finished
        self.interrupted_timeout = interrupted_timeout
        self._release: asyncio.TimerHandle | None = None
        self.manager: Manager | None = None
        self.listeners: list[Listener] = []
        self.queue = _InlineQueue(self)
        self.task_mode: bool | None = None      # None: nothing yet; False: a Message
        self.message_to_save: Message | None = None
        self.producer_failed = False
        self.created = asyncio.Event()          # the task is in the store
        self.finished = asyncio.Event()         # no new turn will run
        self.closed = False                     # events are dropped, listeners ended
        self.lock = asyncio.Lock()              # one turn at a time
        self.runner: asyncio.Task[None] | None = None
        self.stop_requested = False
        self.turns = 0                          # turns started
        self.state: int = _UNSPECIFIED          # the stored task's, after each event
        self._shielded = 0                      # >0: inside a store write; cancel waits
        self._queued = 0                        # turn tasks started, lock not yet taken
        self._inline = False                    # the running turn is run_turn's
        self._executing = False                 # inside executor.execute
        self._cancel_sent = False               # stop() cancelled run_turn's caller

    # -- turns ---------------------------------------------------------------

    def start_turn(self, rc: RequestContext, context: ServerCallContext,
                   listener: Listener) -> None:
        """Queue one turn of the executor for ``rc``; ``listener`` hears it."""
        self.listeners.append(listener)
        self._queued += 1
        runner = asyncio.create_task(self._turn(rc, context, listener),
                                     name=f"a2a-mqtt-turn:{self.task_id}")
        # Held until the turn ends (the loop keeps only weak references).
        _RUNNING.add(runner)
        runner.add_done_callback(_RUNNING.discard)

    @property
    def idle(self) -> bool:
        """No turn running or queued: a turn started now runs at once, in order."""
        return self._queued == 0 and not self.lock.locked()

    async def run_turn(self, rc: RequestContext, context: ServerCallContext,
                       listener: Listener) -> None:
        """Run one turn in the calling task, when :attr:`idle` (a blocking SendMessage:
        its request task waits for the turn anyway, so a task of its own would only add
        a task, a loop turn and a wake-up). A CancelTask stops it as it stops a turn
        task: the calling task is cancelled inside the executor, and the turn ends."""
        if not self.idle:
            raise RuntimeError("run_turn needs an idle task; use start_turn")
        self.listeners.append(listener)
        self._inline = True
        try:
            await self._turn(rc, context, listener, queued=False)
        finally:
            self._inline = False
            if self._cancel_sent:
                # Our own stop: the request goes on to answer (as after a turn task's end).
                self._cancel_sent = False
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()

    async def _turn(self, rc: RequestContext, context: ServerCallContext,
                    listener: Listener, *, queued: bool = True) -> None:
        if self._release is not None:
            self._release.cancel()
            self._release = None
        async with self.lock:
            if queued:
                self._queued -= 1
            if self.closed or self.finished.is_set():
                self._end(listener)  # a2a-sdk drops requests queued behind the end
                return
            self.runner = asyncio.current_task()
            try:
                # As a2a-sdk's producer: the turn's call context, a fresh read of the
                # task (a new task's first turn has just read it: see LeanRequestHandler).
                if self.manager is None or self.turns:
                    self.manager = new_manager(self.store, context, self.task_id,
                                                self.context_id, self.initial_message)
                    rc.current_task = await self._shield(self.manager.get_task())
                else:
                    rc.current_task = None  # the handler found none, just now
                self.turns += 1
                self.message_to_save = rc.message
                # Stopped during that read, in the request's own task: there is no
                # pending cancel to stop the executor, so it does not start.
                if not (self._inline and self.stop_requested):
                    self._executing = True
                    try:
                        await self.executor.execute(rc, self.queue)
                    finally:
                        self._executing = False
            except asyncio.CancelledError:
                if not self.stop_requested:
                    raise
            except Exception as exc:
                # The agent's error, answered as a2a-sdk answers it (a2a-sdk logs it too).
                log.warning("executor of task %s failed", self.task_id, exc_info=True)
                await self.consume(exc)
                self._close()
                return
            finally:
                self.runner = None
            if self.stop_requested or self.finished.is_set():
                self._close()
            else:
                self._end(listener)  # parked: the next turn continues the task
                self.schedule_release()

    def schedule_release(self) -> None:
        """a2a-sdk's ``interrupted_task_timeout``: a task parked in input-/auth-required
        with nobody listening is released after it (a later turn starts afresh)."""
        if self.interrupted_timeout is None:
            return
        if self._release is not None:
            self._release.cancel()
        self._release = asyncio.get_running_loop().call_later(
            self.interrupted_timeout, self._release_if_idle)

    def _release_if_idle(self) -> None:
        self._release = None
        if (self.closed or self.finished.is_set() or self.runner is not None
                or self.lock.locked() or self.listeners or self.state not in INTERRUPTED):
            return
        self._close()

    def stop(self) -> None:
        """Stop the executor, as a2a-sdk cancels its producer (after a CancelTask)."""
        self.stop_requested = True
        runner = self.runner
        if runner is None:
            self._close()  # parked: the producer ends at once (queued turns see it)
        elif self._shielded == 0:
            self._cancel_sent = self._inline
            runner.cancel()
        # else: the write in progress finishes first (see consume).

    async def _shield(self, step: Awaitable[Any]) -> Any:
        """A store step a cancel must not cut in half: a2a-sdk runs them in its
        consumer task, which cancelling the producer does not touch."""
        self._shielded += 1
        try:
            return await step
        finally:
            self._shielded -= 1
            self._cancel_if_stopping()

    def _cancel_if_stopping(self) -> None:
        """A stop that came during a store write takes effect once it is done."""
        runner = self.runner
        if runner is None or self._shielded or not self.stop_requested:
            return
        current = asyncio.current_task()
        if current is not None and current is runner:
            if not self._inline:
                current.cancel()
            elif self._executing:
                # A turn in the request's own task stops here, inside the executor: a
                # cancel would land at its next await, which may be the reply's.
                raise asyncio.CancelledError

    def _end(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
            listener.end()

    def _close(self) -> None:
        """The producer is gone: every listener ends, the task leaves the registry."""
        if self.closed:
            return
        self.closed = True
        if self._release is not None:
            self._release.cancel()
            self._release = None
        self.finished.set()
        listeners, self.listeners = self.listeners, []
        for listener in listeners:
            listener.end()
        self.on_finished(self)

    def _finish(self) -> None:
        if not self.finished.is_set():
            self.finished.set()
            self.on_finished(self)

    # -- a2a-sdk's EventConsumer rules, inline ----------------------------------

    async def consume(self, event: Any) -> None:
        """Store ``event`` and tell the listeners, as a2a-sdk's consumer does."""
        if self.closed:
            return  # a2a-sdk drops events enqueued after its queue closed
        self._shielded += 1
        try:
            try:
                await self._consume_once(event)
            except ConcurrentTaskModificationError:
                # Another writer (a CancelTask elsewhere) advanced the task.
                manager = self._manager()
                manager.invalidate()
                task = await manager.get_task()
                if task is not None and task.status.state in TERMINAL:
                    await self._deliver(task, task)
                    self.stop_requested = True
                    self._finish()
                    self._close()
                    return
                await self._consume_once(event)
        except Exception as exc:
            await self._consumer_failed(exc)
        finally:
            self._shielded -= 1
            self._cancel_if_stopping()

    async def _consumer_failed(self, exc: Exception) -> None:
        error: Exception = exc
        if isinstance(exc, ConcurrentTaskModificationError):
            error = InternalError(message=str(exc))
        updated = None
        try:
            updated = await self._write_failed_status()
        finally:
            await self._deliver(error, updated)
            self._finish()
            self.closed = True  # a2a-sdk's consumer is gone: later events are dropped
            listeners, self.listeners = self.listeners, []
            for listener in listeners:
                listener.end()

    def _manager(self) -> Manager:
        assert self.manager is not None
        return self.manager

    async def _consume_once(self, event: Any) -> None:
        updated: Task | None = None
        if isinstance(event, BaseException):
            self.producer_failed = True
            raise event
        if isinstance(event, Message):
            if self.task_mode is True:
                raise InvalidAgentResponseError(
                    "Received Message object in task mode. Use TaskStatusUpdateEvent or "
                    "TaskArtifactUpdateEvent instead.")
            if self.task_mode is False:
                raise InvalidAgentResponseError("Multiple Message objects received.")
            self.task_mode = False
        elif isinstance(event, Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent):
            updated = await self._task_event(event)
            self.state = updated.status.state
            if updated.status.state in TERMINAL:
                self._finish()
            self.created.set()
        await self._deliver(event, updated)
        if isinstance(event, Message):
            self._finish()  # a Message ends the task's life, as a terminal state does

    async def _task_event(self, event: Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
                          ) -> Task:
        if self.task_mode is False:
            raise InvalidAgentResponseError(
                f"Received {type(event).__name__} in message mode. Use Task with "
                "TaskStatusUpdateEvent and TaskArtifactUpdateEvent instead.")
        manager = self._manager()
        if isinstance(event, Task):
            if await manager.get_task() is not None:
                log.error("Task %s already exists. Ignoring task replacement.", self.task_id)
            else:
                await manager.save_task_event(event)
            self.message_to_save = None
        else:
            await self._modify(event)
        self.task_mode = True
        task = await manager.get_task()
        if task is None:
            raise RuntimeError(f"Task {self.task_id} not found")
        return task

    async def _modify(self, event: TaskStatusUpdateEvent | TaskArtifactUpdateEvent) -> None:
        manager = self._manager()
        if (isinstance(event, TaskStatusUpdateEvent) and not self.created.is_set()
                and await manager.get_task() is None):
            raise InvalidAgentResponseError(
                f"Agent should enqueue Task before {type(event).__name__} event")
        task = await manager.ensure_task_id(self.task_id, event.context_id)
        pending, self.message_to_save = self.message_to_save, None
        if pending is not None and not any(
                m.message_id == pending.message_id for m in task.history):
            await manager.save_task_event(manager.update_with_message(pending, task))
        manager.context_id = event.context_id
        await manager.process(event)

    async def _write_failed_status(self) -> Task | None:
        """FAILED after a failure, as a2a-sdk records it (see its EventConsumer)."""
        manager = self._manager()
        task = await manager.get_task()
        if task is None and self.producer_failed:
            task = await manager.ensure_task_id(self.task_id, manager.context_id or "")
            if task.status.state not in TERMINAL:
                task.status.state = S.TASK_STATE_FAILED
                task.status.timestamp.GetCurrentTime()
                await manager.save_task_event(task)
            self.created.set()
            return task
        if task is None or task.status.state in TERMINAL:
            return None
        status = TaskStatus(state=S.TASK_STATE_FAILED)
        status.timestamp.GetCurrentTime()
        try:
            await self._modify(TaskStatusUpdateEvent(
                task_id=task.id, context_id=task.context_id, status=status))
            return await manager.get_task()
        except ConcurrentTaskModificationError:
            manager.invalidate()
            return None

    async def _deliver(self, event: Any, task: Task | None) -> None:
        for listener in list(self.listeners):
            listener.event(event, task)
        if self.event_stream is not None and isinstance(event, _EVENTS):
            await self.event_stream.publish(self.task_id, VersionedEvent(
                event=event, version=self._manager().current_version))

    # -- cancel ----------------------------------------------------------------

    async def cancel(self, context: ServerCallContext) -> Task:
        """CancelTask for this task, with a2a-sdk's ActiveTask.cancel rules."""
        manager = self._manager() if self.manager is not None else new_manager(
            self.store, context, self.task_id, self.context_id, self.initial_message)
        self.manager = manager
        task = await manager.get_task()
        rc = RequestContext(call_context=context, task_id=self.task_id,
                            context_id=task.context_id if task else None, task=task)
        if not self.finished.is_set():
            try:
                await self.executor.cancel(rc, self.queue)
            except Exception:
                log.warning("cancel of task %s failed", self.task_id, exc_info=True)
                if self.created.is_set():
                    current = await manager.get_task()
                    if current is not None:
                        await self.consume(TaskStatusUpdateEvent(
                            task_id=current.id, context_id=current.context_id,
                            status=TaskStatus(state=S.TASK_STATE_FAILED)))
                raise
            finally:
                self.stop()
        await self.finished.wait()
        manager.invalidate()
        task = await manager.get_task()
        if task is None:
            raise RuntimeError("Task should have been created")
        if task.status.state not in TERMINAL:
            cancelled = Task()
            cancelled.CopyFrom(task)
            cancelled.status.state = S.TASK_STATE_CANCELED
            await manager.save_task_event(cancelled)
            task = cancelled
        return task

    async def aclose(self) -> None:
        """Handler shutdown: stop the executor now and end every listener."""
        runner = self.runner
        self.stop_requested = True
        if runner is not None:
            if self._inline:
                self._cancel_sent = True
                runner.cancel()  # a request's task: the server's stop waits for those
            else:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
        self._close()
