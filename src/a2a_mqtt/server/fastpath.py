"""A fast path through a2a-sdk's request handler for the common turn (issue #16).

a2a-sdk's ``DefaultRequestHandler`` runs every ``SendMessage`` through an
``ActiveTask``: a producer task, a consumer task, two cross-thread queues
(culsans/aiologic on Python < 3.13) and a registry. For the commonest turn (a
new task, a blocking send, one executor turn that ends in a terminal state, no
push notifications) that machinery costs most of the agent's CPU.

:class:`LeanRequestHandler` subclasses the default handler (a public
extension point) and takes that turn itself:

1. it builds the request context with the handler's own builder;
2. it runs the executor into :class:`BufferQueue`, a plain list;
3. if the events have the simple shape (:func:`simple_shape`), it folds them
   into the task with a2a-sdk's public ``TaskManager``, the same way the
   default handler's consumer does, and answers with the task;
4. otherwise (an exception, a Message, an interrupted or unfinished task, an
   id mismatch) it hands the request to the default handler, whose executor
   replays the recorded events (and exception) in order instead of running
   the agent a second time. The default handler then decides the reply and
   stores the task exactly as it would have.

Invariant: on both paths the reply and the stored task are the default
handler's; ``tests/unit/server/test_fastpath.py`` checks it on generated
request shapes. What differs is timing: on the fast path the task is stored
when the executor returns, not event by event, so a concurrent GetTask,
CancelTask or SubscribeToTask during that turn does not see it yet, and
a2a-sdk's own spans (off by default here) are not emitted for it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Final

from a2a.server.agent_execution import AgentExecutor, RequestContext, RequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.server.events import Event, EventQueue
from a2a.server.request_handlers import DefaultRequestHandler, validate_request_params
from a2a.server.tasks import TaskManager
from a2a.types.a2a_pb2 import (
    SendMessageRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatusUpdateEvent,
)
from a2a.utils.task import apply_history_length, validate_history_length

__all__ = ["BufferQueue", "LeanRequestHandler", "simple_shape"]

#: States after which a2a-sdk's consumer finishes the turn (its TERMINAL_TASK_STATES).
TERMINAL: Final = frozenset({
    TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_CANCELED,
    TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED,
})


class BufferQueue(EventQueue):
    """The executor's queue on the fast path: one loop, one reader, a list."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def enqueue_event(self, event: Event) -> None:
        self.events.append(event)


@dataclass(frozen=True)
class _Recorded:
    """One executor turn already taken on the fast path, for the default handler to replay."""

    context: RequestContext
    events: list[Event]
    error: Exception | None = field(default=None)


#: Set only around the default handler's call on a fallback, in that request's task.
_REPLAY: contextvars.ContextVar[_Recorded | None] = contextvars.ContextVar(
    "a2a_mqtt_fastpath_replay", default=None)


def simple_shape(events: list[Event], task_id: str, context_id: str) -> bool:
    """True if ``events`` is a Task for this turn, then status/artifact updates for it,
    with a terminal state reached at the last event and not before, and no artifact
    appended to before it was sent."""
    if not events or type(events[0]) is not Task:
        return False
    first = events[0]
    if first.id != task_id or first.context_id != context_id:
        return False
    if len(events) == 1:
        return first.status.state in TERMINAL
    if first.status.state in TERMINAL:
        return False
    last = len(events) - 1
    # append=True to an artifact not yet sent is an agent error a2a-sdk reports itself.
    artifacts = {a.artifact_id for a in first.artifacts}
    for i, ev in enumerate(events[1:], start=1):
        if type(ev) is TaskStatusUpdateEvent:
            if (ev.status.state in TERMINAL) != (i == last):
                return False
        elif type(ev) is TaskArtifactUpdateEvent and i != last:
            if ev.append and ev.artifact.artifact_id not in artifacts:
                return False
            artifacts.add(ev.artifact.artifact_id)
        else:
            return False
        if ev.task_id != task_id or ev.context_id != context_id:
            return False
    return True


def _as_sent(params: SendMessageRequest, context_id: str) -> SendMessageRequest:
    """``params`` before the builder wrote its ids into the message: a new task."""
    sent = SendMessageRequest()
    sent.CopyFrom(params)
    sent.message.task_id = ""
    sent.message.context_id = context_id
    return sent


class _ReplayingExecutor(AgentExecutor):
    """The default handler's executor: replays a recorded turn, else runs the agent."""

    def __init__(self, inner: AgentExecutor) -> None:
        self.inner = inner

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        recorded = _REPLAY.get()
        if recorded is None or recorded.context.task_id != context.task_id:
            await self.inner.execute(context, event_queue)
            return
        for event in recorded.events:
            await event_queue.enqueue_event(event)
        if recorded.error is not None:
            raise recorded.error

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await self.inner.cancel(context, event_queue)


class _ReplayingBuilder(RequestContextBuilder):
    """Hands the default handler the request context the fast path already built."""

    def __init__(self, inner: RequestContextBuilder) -> None:
        self.inner = inner

    async def build(self, context: ServerCallContext, params: SendMessageRequest | None = None,
                    task_id: str | None = None, context_id: str | None = None,
                    task: Task | None = None) -> RequestContext:
        recorded = _REPLAY.get()
        if recorded is not None:
            return recorded.context
        return await self.inner.build(context=context, params=params, task_id=task_id,
                                      context_id=context_id, task=task)


class LeanRequestHandler(DefaultRequestHandler):
    """``DefaultRequestHandler`` with the fast path for a new, blocking, one-turn task.

    Takes the default handler's keyword arguments; ``request_context_builder``
    is required (the fast path builds contexts with it too).
    """

    def __init__(self, *, agent_executor: AgentExecutor,
                 request_context_builder: RequestContextBuilder, **kwargs: Any) -> None:
        self._lean_executor = agent_executor
        self._lean_builder = request_context_builder
        # Push configs, cross-replica event streams and input-mode checks are the
        # default handler's business: any of them turns the fast path off.
        self._lean_on = (kwargs.get("push_config_store") is None
                         and kwargs.get("push_sender") is None
                         and kwargs.get("event_stream") is None
                         and not kwargs.get("validate_input_modes", False))
        super().__init__(agent_executor=_ReplayingExecutor(agent_executor),
                         request_context_builder=_ReplayingBuilder(request_context_builder),
                         **kwargs)

    @validate_request_params
    async def on_message_send(self, params: SendMessageRequest,
                              context: ServerCallContext) -> Any:
        cfg = params.configuration
        if (not self._lean_on or params.message.task_id or cfg.return_immediately
                or cfg.HasField("task_push_notification_config")):
            return await super().on_message_send(params, context)
        validate_history_length(cfg)
        # The builder writes the ids it settles on into ``params.message``; the
        # default handler must see the request as it came (a new task).
        sent_context_id = params.message.context_id
        rc = await self._lean_builder.build(
            context=context, params=params, task_id=None,
            context_id=params.message.context_id or None, task=None)
        task_id, context_id = str(rc.task_id), str(rc.context_id)
        manager = TaskManager(self.task_store, context, task_id, context_id, rc.message)
        rc.current_task = await manager.get_task()
        queue = BufferQueue()
        error: Exception | None = None
        if rc.current_task is None:
            try:
                await self._lean_executor.execute(rc, queue)
            except Exception as exc:  # replayed to the default handler below
                error = exc
            if error is None and simple_shape(queue.events, task_id, context_id):
                return await self._fold(manager, queue.events, params)
        else:
            # Not a fresh task after all: the default handler runs the agent.
            return await super().on_message_send(_as_sent(params, sent_context_id), context)
        token = _REPLAY.set(_Recorded(rc, queue.events, error))
        try:
            return await super().on_message_send(_as_sent(params, sent_context_id), context)
        finally:
            _REPLAY.reset(token)

    async def _fold(self, manager: TaskManager, events: list[Event],
                    params: SendMessageRequest) -> Task:
        """Store the turn as a2a-sdk's consumer does: the Task as sent, then each update."""
        first = events[0]
        assert isinstance(first, Task)
        await manager.save_task_event(first)
        for ev in events[1:]:
            assert isinstance(ev, TaskStatusUpdateEvent | TaskArtifactUpdateEvent)
            await manager.ensure_task_id(str(manager.task_id), ev.context_id)
            manager.context_id = ev.context_id
            await manager.process(ev)
        task = await manager.get_task()
        assert task is not None
        reply = Task()
        reply.CopyFrom(task)
        return apply_history_length(reply, params.configuration)
