"""HttpForwardExecutor: an a2a-sdk AgentExecutor that runs each request on an HTTP agent.

``gateway expose`` serves an HTTP A2A agent on MQTT with the ordinary
:class:`AgentServer` (card, will, presence, persistent session, dedup, push,
task store), whose executor is this class: each turn is forwarded with
a2a-sdk's own HTTP ``Client`` (JSON-RPC or HTTP+JSON, streaming when the agent
streams) and every event it sends back is re-enqueued locally.

Ids. The MQTT side owns the task and context ids (the requester chose the
Task.id, as the binding wants); the HTTP agent generates its own. The
executor keeps the pairing (bounded, in memory) and rewrites ids both ways,
so a continuation (input-required) reaches the same upstream task and every
event carries the MQTT-side ids.

Service parameters. ``Authorization``, ``A2A-Extensions`` and custom ones the
MQTT request carried are sent as HTTP headers, over the static headers
configured for the agent.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping

import httpx
from a2a.client import Client, ClientCallContext
from a2a.client.errors import A2AClientError
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import A2AError, InternalError, InvalidParamsError
from opentelemetry.trace import SpanKind

from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.propagation import trace_headers

__all__ = ["HttpForwardExecutor", "IdMap"]

log = logging.getLogger("a2a_mqtt.gateway.expose")

_SKIPPED_HEADERS = frozenset({"a2a-version"})  # the HTTP client always sends A2A-Version: 1.0
_CANONICAL = {"authorization": "Authorization", "a2a-extensions": "A2A-Extensions"}


class IdMap:
    """Local id <-> upstream id, the most recent ``size`` pairs."""

    def __init__(self, size: int = 10_000) -> None:
        self._up: OrderedDict[str, str] = OrderedDict()
        self._down: dict[str, str] = {}
        self._size = size

    def bind(self, local: str, upstream: str) -> None:
        self._up[local] = upstream
        self._up.move_to_end(local)
        self._down[upstream] = local
        while len(self._up) > self._size:
            _, old = self._up.popitem(last=False)
            self._down.pop(old, None)

    def upstream(self, local: str) -> str | None:
        return self._up.get(local)

    def local(self, upstream: str) -> str | None:
        return self._down.get(upstream)


def _restamp(message: Message, task_id: str, context_id: str) -> None:
    if message.task_id:
        message.task_id = task_id
    if message.context_id:
        message.context_id = context_id


class HttpForwardExecutor(AgentExecutor):
    """Forwards each turn to one HTTP agent through a2a-sdk's ``Client``."""

    def __init__(self, *, client: Client, name: str,
                 headers: Mapping[str, str] | None = None) -> None:
        self._client = client
        self._name = name
        self._static = dict(headers or {})
        self.tasks = IdMap()
        self.contexts = IdMap()

    def _call_context(self, context: RequestContext) -> ClientCallContext:
        headers = dict(self._static)
        incoming = context.call_context.state.get("headers") or {}
        for name, value in incoming.items():
            key = name.lower()
            if key not in _SKIPPED_HEADERS:
                headers[_CANONICAL.get(key, key)] = value
        return ClientCallContext(service_parameters=headers)

    def _upstream_request(self, context: RequestContext, message: Message, task_id: str,
                          context_id: str) -> SendMessageRequest:
        request = SendMessageRequest()
        request.message.CopyFrom(message)
        request.message.task_id = self.tasks.upstream(task_id) or ""
        request.message.context_id = self.contexts.upstream(context_id) or context_id
        refs = [self.tasks.upstream(r) or r for r in request.message.reference_task_ids]
        del request.message.reference_task_ids[:]
        request.message.reference_task_ids.extend(refs)
        if context.configuration is not None:
            request.configuration.accepted_output_modes.extend(
                context.configuration.accepted_output_modes)
        if context.metadata:
            request.metadata.update(context.metadata)
        return request

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id, message = context.task_id, context.context_id, context.message
        if not task_id or not context_id or message is None:
            raise InternalError(message="the request has no task, context or message")
        have_task = context.current_task is not None
        request = self._upstream_request(context, message, task_id, context_id)
        try:
            # The HTTP hop is a CLIENT span, child of the executor's; the agent gets its
            # context as the W3C traceparent header.
            with tracing.span("a2a/SendMessage", kind=SpanKind.CLIENT, attributes=(
                    tracing.rpc_attributes("SendMessage", **{"a2a.agent": self._name}))):
                cctx = self._call_context(context)
                if cctx.service_parameters is not None:
                    cctx.service_parameters.update(trace_headers())
                async for item in self._client.send_message(request, context=cctx):
                    for event in self._localize(item, task_id, context_id, have_task,
                                                context):
                        if isinstance(event, Task):
                            have_task = True
                        await event_queue.enqueue_event(event)
        except A2AClientError as exc:
            raise InternalError(message=f"the HTTP agent {self._name} failed: "
                                        f"{exc.message}") from exc
        except A2AError:
            raise  # the HTTP agent's own answer (TaskNotFoundError, ...): its class is kept
        except (ValueError, TypeError, UnicodeError) as exc:
            # The request cannot be written as HTTP A2A (NaN, a lone surrogate, ...): the
            # requester's fault, told as such instead of an unexplained internal error.
            raise InvalidParamsError(message="the request cannot be forwarded to the HTTP "
                                             f"agent: {str(exc)[:200]}") from exc
        except httpx.HTTPError as exc:
            raise InternalError(message=f"the HTTP agent {self._name} is unreachable: "
                                        f"{type(exc).__name__}") from exc

    def _localize(self, item: StreamResponse, task_id: str, context_id: str, have_task: bool,
                  context: RequestContext) -> list[Task | Message | TaskStatusUpdateEvent
                                                  | TaskArtifactUpdateEvent]:
        kind = item.WhichOneof("payload")
        if kind == "task":
            task = item.task
            self.tasks.bind(task_id, task.id)
            self.contexts.bind(context_id, task.context_id)
            if not have_task:
                task.id, task.context_id = task_id, context_id
                for message in task.history:
                    _restamp(message, task_id, context_id)
                _restamp(task.status.message, task_id, context_id)
                return [task]
            # The local task exists: replay the snapshot as updates.
            events: list[Task | Message | TaskStatusUpdateEvent | TaskArtifactUpdateEvent] = [
                TaskArtifactUpdateEvent(task_id=task_id, context_id=context_id, artifact=a)
                for a in task.artifacts]
            _restamp(task.status.message, task_id, context_id)
            events.append(TaskStatusUpdateEvent(task_id=task_id, context_id=context_id,
                                                status=task.status))
            return events
        if kind == "message":
            _restamp(item.message, task_id, context_id)
            return [item.message]
        if kind in ("status_update", "artifact_update"):
            update = item.status_update if kind == "status_update" else item.artifact_update
            self.tasks.bind(task_id, update.task_id)
            self.contexts.bind(context_id, update.context_id)
            update.task_id, update.context_id = task_id, context_id
            out: list[Task | Message | TaskStatusUpdateEvent | TaskArtifactUpdateEvent] = []
            if not have_task:
                # An upstream that skipped the initial Task: a2a-sdk needs one first.
                assert context.message is not None
                out.append(Task(id=task_id, context_id=context_id,
                                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                                history=[context.message]))
            if isinstance(update, TaskStatusUpdateEvent):
                _restamp(update.status.message, task_id, context_id)
            out.append(update)
            return out
        return []

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Cancel the upstream task; a2a-sdk then records CANCELED locally."""
        upstream = self.tasks.upstream(context.task_id or "")
        if upstream is None:
            return
        try:
            await self._client.cancel_task(CancelTaskRequest(id=upstream),
                                           context=self._call_context(context))
        except A2AError as exc:
            log.warning("cancel of task %s at %s failed: %s", upstream, self._name, exc)
