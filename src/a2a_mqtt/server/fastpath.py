"""A lean request handler with a2a-sdk's semantics (issue #16).

a2a-sdk's ``DefaultRequestHandler`` runs every ``SendMessage`` through an
``ActiveTask``: a producer task, a consumer task, two cross-thread queues
(culsans/aiologic on Python < 3.13), a subscriber fan-out and a registry; that
machinery was most of the agent's CPU. :class:`LeanRequestHandler` subclasses the
default handler (a public extension point) and runs the same task life on one
loop with :class:`~a2a_mqtt.server.leantask.LeanTask`.

Which requests take the lean path (when the handler has no push config store or
sender and does not validate input modes; else none do):

* SendMessage and SendStreamingMessage, blocking or not, for a task that is not
  in the store (a new task), or for a task a lean turn owns (running, or parked
  after a turn that ended interrupted or unfinished);
* CancelTask and SubscribeToTask for a task a lean turn owns;
* everything else goes to the default handler unchanged: a continuation of a
  task nobody here owns (it was stored earlier, by another process or before a
  restart), GetTask, ListTasks, push configs, the extended card.

Both paths share the store, so a task is owned by one of them at a time: the
lean path owns the tasks it starts until they finish, and hands nothing over.

What a client can observe is the default handler's: the task is stored at its
first event and after every update (GetTask during a turn), a CancelTask stops
the executor and records CANCELED, a SubscribeToTask sees the current task then
each event, errors and error codes are a2a-sdk's. Differences are in timing
only: the reply to a blocking send is sent when the executor returns rather
than at the terminal event, and a2a-sdk's own spans (off by default here) are
not emitted. ``tests/unit/server/test_fastpath*.py`` compare both handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any, Final

from a2a.server.agent_execution import AgentExecutor, RequestContext, RequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.request_handler import validate
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    Message,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    InternalError,
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.task import apply_history_length, validate_history_length

from a2a_mqtt.server.keepcancel import kept
from a2a_mqtt.server.leantask import INTERRUPTED, TERMINAL, LeanTask, new_manager
from a2a_mqtt.server.required import validated

__all__ = ["LeanRequestHandler"]

log = logging.getLogger(__name__)
_END: Final = object()
_FAILED: Final = TaskState.TASK_STATE_FAILED


def _copy(task: Task) -> Task:
    copy = Task()
    copy.CopyFrom(task)
    return copy


class _Reply:
    """The blocking or non-blocking SendMessage's choice of reply (a2a-sdk's rules)."""

    def __init__(self, task_id: str, config: SendMessageConfiguration) -> None:
        self.task_id = task_id
        self.immediate = config.return_immediately
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.result: Task | Message | None = None

    def event(self, event: Any, task: Task | None) -> None:
        if self.future.done():
            return
        if isinstance(event, BaseException):
            self.future.set_exception(event)
            return
        if isinstance(event, TaskStatusUpdateEvent):
            event = task
        if isinstance(event, Task) and (self.immediate or event.status.state in TERMINAL
                                        or event.status.state in INTERRUPTED):
            if event.id != self.task_id:
                log.error("Agent generated task_id=%s does not match the RequestContext "
                          "task_id=%s.", event.id, self.task_id)
                self.future.set_exception(
                    InternalError(message="Task ID mismatch in agent response"))
                return
            self.result = _copy(event)
            # A FAILED task may still be followed by the executor's exception.
            if self.immediate or event.status.state != _FAILED:
                self.future.set_result(self.result)
        elif isinstance(event, Message):
            self.result = event

    def end(self) -> None:
        if not self.future.done():
            self.future.set_result(self.result)


class _Sink:
    """A stream's or a subscription's events, in order, until :data:`_END`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def event(self, event: Any, task: Task | None) -> None:
        self.queue.put_nowait(_copy(event) if isinstance(event, Task) else event)

    def end(self) -> None:
        self.queue.put_nowait(_END)


class LeanRequestHandler(DefaultRequestHandler):
    """``DefaultRequestHandler`` whose task turns run on :class:`LeanTask`.

    Takes the default handler's keyword arguments; ``request_context_builder``
    is required (the lean path builds contexts with it too).
    """

    def __init__(self, *, agent_executor: AgentExecutor, agent_card: AgentCard,
                 request_context_builder: RequestContextBuilder, **kwargs: Any) -> None:
        self.lean_card = agent_card
        self._lean_executor = agent_executor
        self._lean_builder = request_context_builder
        # Push configs and input-mode checks are the default handler's business:
        # either of them sends every request there.
        self.lean = (kwargs.get("push_config_store") is None
                     and kwargs.get("push_sender") is None
                     and not kwargs.get("validate_input_modes", False))
        self._lean_stream = kwargs.get("event_stream")
        self._lean_release = kwargs.get("interrupted_task_timeout")
        self._lean_tasks: dict[str, LeanTask] = {}
        super().__init__(agent_executor=agent_executor, agent_card=agent_card,
                         request_context_builder=request_context_builder, **kwargs)

    def owns(self, task_id: str) -> bool:
        """True while a lean turn owns ``task_id`` (running or parked)."""
        return task_id in self._lean_tasks

    def _forget(self, task: LeanTask) -> None:
        if self._lean_tasks.get(task.task_id) is task:
            del self._lean_tasks[task.task_id]

    async def _read(self, task_id: str, context: ServerCallContext) -> Task | None:
        return await new_manager(self.task_store, context, task_id, None, None).get_task()

    async def aclose(self) -> None:
        tasks = list(self._lean_tasks.values())
        await asyncio.gather(*(t.aclose() for t in tasks), return_exceptions=True)
        await super().aclose()

    # -- SendMessage -------------------------------------------------------------

    async def _begin(self, params: SendMessageRequest, context: ServerCallContext,
                     listener_for: Any) -> tuple[LeanTask, RequestContext, Any] | None:
        """Prepare a lean turn for ``params`` (the caller starts it), or None: the
        default handler takes it."""
        validate_history_length(params.configuration)
        task_id = params.message.task_id or None
        context_id = params.message.context_id or None
        if task_id is not None:
            if task_id not in self._lean_tasks:
                return None
            stored = await self._read(task_id, context)
            if stored is None:
                raise TaskNotFoundError(f"Task {task_id} not found")
            if context_id and stored.context_id != context_id:
                raise InvalidParamsError(
                    message=f"Context {context_id} does not match context "
                            f"{stored.context_id} of task {task_id}")
        sent_context_id = params.message.context_id
        rc = await self._lean_builder.build(context=context, params=params, task_id=task_id,
                                            context_id=context_id, task=None)
        tid, cid = str(rc.task_id), str(rc.context_id)
        lean = self._lean_tasks.get(tid)
        if lean is None:
            first = new_manager(self.task_store, context, tid, cid, rc.message)
            if await first.get_task() is not None and tid not in self._lean_tasks:
                # Stored, and nobody here runs it: the default handler's. It must see
                # the request as it came (the builder wrote its ids into the message).
                params.message.task_id = task_id or ""
                params.message.context_id = sent_context_id
                return None
            lean = self._lean_tasks.get(tid)
            if lean is None:
                lean = LeanTask(task_id=tid, context_id=cid, store=self.task_store,
                                executor=self._lean_executor, initial_message=rc.message,
                                event_stream=self._lean_stream, on_finished=self._forget,
                                interrupted_timeout=self._lean_release)
                # Its first turn starts from this read: nothing in between, so no re-read.
                lean.manager = first
                self._lean_tasks[tid] = lean
        if lean.finished.is_set():
            raise UnsupportedOperationError(f"Task {tid} is already completed.")
        return lean, rc, listener_for(tid)

    @validated
    async def on_message_send(self, params: SendMessageRequest,
                              context: ServerCallContext) -> Message | Task:
        if not self.lean:
            return await kept(super().on_message_send(params, context))
        cfg = params.configuration
        begun = await self._begin(params, context, lambda tid: _Reply(tid, cfg))
        if begun is None:
            return await kept(super().on_message_send(params, context))
        lean, rc, reply = begun
        inline = lean.idle and not cfg.return_immediately
        if inline:
            # Blocking: the turn runs in this request's task (see LeanTask.run_turn).
            await lean.run_turn(rc, context, reply)
        else:
            lean.start_turn(rc, context, reply)
        result: Task | Message | None = await reply.future
        if result is None:
            if inline:
                # A turn task's end would wake us after the tasks it woke (a CancelTask
                # writing CANCELED once the turn stopped): read the task after them too.
                await asyncio.sleep(0)
            await lean.created.wait()  # as a2a-sdk: the task the turn left
            task = await lean.manager.get_task() if lean.manager is not None else None
            if task is None:
                raise RuntimeError("Task should have been created")
            result = _copy(task)
        if isinstance(result, Task):
            return apply_history_length(result, cfg)
        return result

    @validated
    @validate(lambda self: self.lean_card.capabilities.streaming,
              "Streaming is not supported by the agent")
    async def on_message_send_stream(self, params: SendMessageRequest,
                                     context: ServerCallContext
                                     ) -> AsyncGenerator[Event, None]:
        begun = (await self._begin(params, context, lambda _tid: _Sink()) if self.lean
                 else None)
        if begun is None:
            async for event in super().on_message_send_stream(params, context):
                yield event
            return
        lean, rc, sink = begun
        lean.start_turn(rc, context, sink)
        try:
            while (event := await sink.queue.get()) is not _END:
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, Task):
                    if event.id != lean.task_id:
                        log.error("Agent generated task_id=%s does not match the "
                                  "RequestContext task_id=%s.", event.id, lean.task_id)
                        raise InternalError(message="Task ID mismatch in agent response")
                    event = apply_history_length(event, params.configuration)
                yield event
        finally:
            lean.listeners[:] = [x for x in lean.listeners if x is not sink]

    # -- CancelTask, SubscribeToTask ---------------------------------------------

    @validated
    async def on_cancel_task(self, params: CancelTaskRequest,
                             context: ServerCallContext) -> Task | None:
        lean = self._lean_tasks.get(params.id)
        if lean is None:
            cancelled: Task | None = await super().on_cancel_task(params, context)
            return cancelled
        task = await self._read(params.id, context)
        if task is None:
            raise TaskNotFoundError
        if task.status.state in TERMINAL:
            raise TaskNotCancelableError
        try:
            return await lean.cancel(context)
        except UnsupportedOperationError as exc:
            raise TaskNotCancelableError from exc

    @validated
    @validate(lambda self: self.lean_card.capabilities.streaming,
              "Streaming is not supported by the agent")
    async def on_subscribe_to_task(self, params: SubscribeToTaskRequest,
                                   context: ServerCallContext
                                   ) -> AsyncGenerator[Event, None]:
        lean = self._lean_tasks.get(params.id)
        if lean is not None:
            task = await self._read(params.id, context)
            if task is None:
                raise TaskNotFoundError
            if task.status.state in TERMINAL:
                raise UnsupportedOperationError(
                    message=f"Task {params.id} is in terminal state: "
                            f"{TaskState.Name(task.status.state)}")
            if lean.finished.is_set():
                raise UnsupportedOperationError(f"Task {params.id} is already completed.")
        if lean is None or lean.closed:
            async for event in super().on_subscribe_to_task(params, context):
                yield event
            return
        sink = _Sink()
        lean.listeners.append(sink)
        try:
            await lean.created.wait()
            current = await lean.manager.get_task() if lean.manager is not None else None
            if current is None:
                raise RuntimeError("Task should have been created")
            yield _copy(current)
            while (event := await sink.queue.get()) is not _END:
                if isinstance(event, BaseException):
                    raise event
                yield event
        finally:
            lean.listeners[:] = [x for x in lean.listeners if x is not sink]

            if not lean.listeners and lean.runner is None and not lean.closed:
                lean.schedule_release()  # as a2a-sdk when its last subscriber leaves
