"""MqttProxyHandler: an a2a-sdk RequestHandler that forwards every operation over MQTT.

a2a-sdk's own HTTP routes (JSON-RPC, HTTP+JSON, SSE) sit on top of it, so the
HTTP side is exactly a2a-sdk's; this class only decides what to send to the
agent and what to answer. Per call it:

1. checks the agent is known (404) and, unless configured otherwise, online
   (503 at once, instead of a request queued for an agent that may never come);
2. validates what the agent's card makes mandatory: input media types
   (ContentTypeNotSupportedError) and required extensions
   (ExtensionSupportRequiredError); required fields are the agent's to check
   (a2a-sdk's handler does it there, so it is not paid twice);
3. forwards ``Authorization``, ``A2A-*``, ``X-*`` and API-key headers as service
   parameters (User Properties on MQTT);
4. calls the agent through :class:`MqttClientTransport`, inside an abortable
   :class:`Guard`, and maps client-side failures to gateway errors (errors.py),
   recording them so the HTTP layer can give them their status code.

The MQTT binding lets a requester choose a new task's id; HTTP A2A does not
(spec §3.4.2). So a message naming a ``taskId`` is checked first: an unknown
task is TaskNotFoundError and a terminal one UnsupportedOperationError, as an
HTTP agent would answer, instead of the binding's "create it" / "return the
stored task".

A stream the HTTP client abandons is closed (``aclose``), which drops its
correlation in the requester; the agent's task is left alone.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from a2a.client.client import ClientCallContext
from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import RequestHandler
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import (
    A2AError,
    ContentTypeNotSupportedError,
    ExtensionSupportRequiredError,
    InvalidParamsError,
    UnsupportedOperationError,
)
from a2a.utils.input_mode_validator import validate_input_modes

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.transport import MqttClientTransport
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.gateway.errors import (
    AgentNotFoundError,
    AgentUnavailableError,
    BadGatewayError,
    GatewayError,
    translate,
)
from a2a_mqtt.gateway.headers import api_key_headers, service_parameters_from_headers
from a2a_mqtt.gateway.presence import AgentDirectory, Inflight

__all__ = ["OUTCOME", "MqttProxyHandler", "Outcome", "ProxySettings"]

_T = TypeVar("_T")
_I = TypeVar("_I")
_O = TypeVar("_O")
OUTCOME: Final = "a2a_mqtt.gateway.outcome"
_TERMINAL: Final = frozenset({TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
                              TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED})


class Outcome:
    """Per HTTP request: an error the HTTP layer renders itself instead of a2a-sdk.

    Gateway errors get their own status and body on both bindings; a
    ContentTypeNotSupportedError gets 415 on HTTP+JSON (A2A 1.0.0 §5.4, and what
    the TCK checks; a2a-sdk, following 1.0.1, would say 400).
    """

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: GatewayError | ContentTypeNotSupportedError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySettings:
    """The gateway options a handler applies to each call."""

    reject_offline: bool = True
    validate_input_modes: bool = True
    forward_headers: frozenset[str] = frozenset()


def _event(item: StreamResponse) -> Event | None:
    kind = item.WhichOneof("payload")
    if kind is None:
        return None
    event: Event = getattr(item, kind)
    return event


def _json_event(item: dict[str, Any]) -> dict[str, Any] | None:
    return item or None  # an empty StreamResponse is no event (as _event says)


class MqttProxyHandler(RequestHandler):
    """Serves one agent (or pool) of the directory by calling it over MQTT."""

    def __init__(self, *, ref: AgentRef, transport: MqttClientTransport,
                 directory: AgentDirectory, inflight: Inflight, settings: ProxySettings,
                 rewrite_card: Callable[[AgentCard], AgentCard]) -> None:
        self._ref = ref
        self._name = str(ref)
        self._transport = transport
        self._directory = directory
        self._inflight = inflight
        self._settings = settings
        self._rewrite = rewrite_card

    # -- the shared steps ----------------------------------------------------------------

    def _begin(self, context: ServerCallContext) -> tuple[ClientCallContext, AgentCard]:
        entry = self._directory.get(self._ref)
        if entry is None or entry.card is None:
            raise AgentNotFoundError(f"agent {self._name} is no longer known to this gateway",
                                     agent=self._name)
        if self._settings.reject_offline and not entry.online:
            raise AgentUnavailableError(
                f"agent {self._name} is offline (a2a-status={entry.status}, "
                f"source {entry.status_source})", agent=self._name)
        headers: dict[str, str] = context.state.get("headers") or {}
        wanted = self._settings.forward_headers | api_key_headers(entry.card)
        params_out = service_parameters_from_headers(headers, extra=wanted)
        return ClientCallContext(service_parameters=params_out), entry.card

    def _failure(self, context: ServerCallContext, error: A2AError | A2AMqttError) -> A2AError:
        mapped = translate(error, self._name)
        if isinstance(mapped, GatewayError | ContentTypeNotSupportedError):
            outcome = context.state.get(OUTCOME)
            if isinstance(outcome, Outcome):
                outcome.error = mapped
        return mapped

    async def _unary(self, context: ServerCallContext,
                     call: Callable[[ClientCallContext, AgentCard], Awaitable[_T]]) -> _T:
        try:
            cctx, card = self._begin(context)
            async with self._inflight.guard(self._ref):
                return await call(cctx, card)
        except (A2AError, A2AMqttError) as exc:
            raise self._failure(context, exc) from None

    async def _stream(self, context: ServerCallContext,
                      open_stream: Callable[[ClientCallContext, AgentCard],
                                            Awaitable[AsyncGenerator[_I]]],
                      relay: Callable[[_I], _O | None]) -> AsyncGenerator[_O]:
        try:
            cctx, card = self._begin(context)
            async with self._inflight.guard(self._ref):
                agen = await open_stream(cctx, card)
        except (A2AError, A2AMqttError) as exc:
            raise self._failure(context, exc) from None
        self._inflight.stream_opened()
        try:
            while True:
                try:
                    async with self._inflight.guard(self._ref):
                        item = await anext(agen)
                except StopAsyncIteration:
                    return
                except (A2AError, A2AMqttError) as exc:
                    raise self._failure(context, exc) from None
                event = relay(item)
                if event is not None:
                    yield event
        finally:
            try:
                await agen.aclose()  # drops the correlation; the agent's task runs on
            finally:
                self._inflight.stream_closed()

    def _check_message(self, params: SendMessageRequest, context: ServerCallContext,
                       card: AgentCard) -> None:
        if self._settings.validate_input_modes:
            validate_input_modes(params.message, card)
        missing = [e.uri for e in card.capabilities.extensions
                   if e.required and e.uri not in context.requested_extensions]
        if missing:
            raise ExtensionSupportRequiredError(
                message=f"the agent requires extension(s) {', '.join(missing)}: declare them "
                        "in the A2A-Extensions header")

    async def _check_continuation(self, params: SendMessageRequest,
                                  cctx: ClientCallContext) -> None:
        """HTTP A2A semantics for a message naming a task (spec §3.1.1, §3.4.2)."""
        task_id = params.message.task_id
        if not task_id:
            return
        task = await self._transport.get_task(GetTaskRequest(id=task_id, history_length=0),
                                              context=cctx)
        if task.status.state in _TERMINAL:
            raise UnsupportedOperationError(
                message=f"Task {task_id} is in terminal state: "
                        f"{TaskState.Name(task.status.state)}")
        context_id = params.message.context_id
        if context_id and context_id != task.context_id:
            raise InvalidParamsError(message=f"Context {context_id} does not match context "
                                             f"{task.context_id} of task {task_id}")
        # Inferred from the task (spec §3.4.3); the MQTT client would otherwise make one up.
        params.message.context_id = task.context_id

    # -- the eleven operations --------------------------------------------------------------

    async def on_message_send(self, params: SendMessageRequest,
                              context: ServerCallContext) -> Task | Message:
        async def call(cctx: ClientCallContext, card: AgentCard) -> Task | Message:
            self._check_message(params, context, card)
            await self._check_continuation(params, cctx)
            response = await self._transport.send_message(params, context=cctx)
            if response.HasField("task"):
                return response.task
            if response.HasField("message"):
                return response.message
            raise BadGatewayError(f"agent {self._name} answered SendMessage with neither a "
                                  "task nor a message", agent=self._name)
        return await self._unary(context, call)

    async def send_message_json(self, params: SendMessageRequest, raw: dict[str, Any],
                                context: ServerCallContext) -> dict[str, Any]:
        """:meth:`on_message_send` for a caller holding the request's JSON (``raw``,
        which decodes to ``params``): the same checks and errors, but the JSON goes
        to the agent and the agent's ``{"task": ...}``/``{"message": ...}`` comes
        back without a protobuf round trip on either side (the lean JSON-RPC path)."""
        async def call(cctx: ClientCallContext, card: AgentCard) -> dict[str, Any]:
            self._check_message(params, context, card)
            await self._check_continuation(params, cctx)
            return await self._transport.send_message_json(params, raw, context=cctx)
        return await self._unary(context, call)

    async def send_message_stream_json(self, params: SendMessageRequest, raw: dict[str, Any],
                                       context: ServerCallContext,
                                       ) -> AsyncGenerator[dict[str, Any]]:
        """:meth:`on_message_send_stream` for a caller holding the request's JSON: the
        same checks, errors and stream bookkeeping; the events are the agent's
        StreamResponse JSON, relayed (the lean JSON-RPC path)."""
        async def open_stream(cctx: ClientCallContext,
                              card: AgentCard) -> AsyncGenerator[dict[str, Any]]:
            self._check_message(params, context, card)
            await self._check_continuation(params, cctx)
            return self._transport.send_message_streaming_json(params, raw, context=cctx)
        async for event in self._stream(context, open_stream, _json_event):
            yield event

    async def on_message_send_stream(self, params: SendMessageRequest,
                                     context: ServerCallContext) -> AsyncGenerator[Event]:
        async def open_stream(cctx: ClientCallContext,
                              card: AgentCard) -> AsyncGenerator[StreamResponse]:
            self._check_message(params, context, card)
            await self._check_continuation(params, cctx)
            return self._transport.send_message_streaming(params, context=cctx)
        events: AsyncGenerator[Event] = self._stream(context, open_stream, _event)
        async for event in events:
            yield event

    async def on_subscribe_to_task(self, params: SubscribeToTaskRequest,
                                   context: ServerCallContext) -> AsyncGenerator[Event]:
        async def open_stream(cctx: ClientCallContext,
                              card: AgentCard) -> AsyncGenerator[StreamResponse]:
            return self._transport.subscribe(params, context=cctx)
        events: AsyncGenerator[Event] = self._stream(context, open_stream, _event)
        async for event in events:
            yield event

    async def on_get_task(self, params: GetTaskRequest,
                          context: ServerCallContext) -> Task | None:
        return await self._unary(context, lambda c, _: self._transport.get_task(
            params, context=c))

    async def on_list_tasks(self, params: ListTasksRequest,
                            context: ServerCallContext) -> ListTasksResponse:
        return await self._unary(context, lambda c, _: self._transport.list_tasks(
            params, context=c))

    async def on_cancel_task(self, params: CancelTaskRequest,
                             context: ServerCallContext) -> Task | None:
        return await self._unary(context, lambda c, _: self._transport.cancel_task(
            params, context=c))

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext,
    ) -> TaskPushNotificationConfig:
        return await self._unary(context, lambda c, _: (
            self._transport.create_task_push_notification_config(params, context=c)))

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext,
    ) -> TaskPushNotificationConfig:
        return await self._unary(context, lambda c, _: (
            self._transport.get_task_push_notification_config(params, context=c)))

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext,
    ) -> ListTaskPushNotificationConfigsResponse:
        return await self._unary(context, lambda c, _: (
            self._transport.list_task_push_notification_configs(params, context=c)))

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext,
    ) -> None:
        await self._unary(context, lambda c, _: (
            self._transport.delete_task_push_notification_config(params, context=c)))

    async def on_get_extended_agent_card(self, params: GetExtendedAgentCardRequest,
                                         context: ServerCallContext) -> AgentCard:
        card = await self._unary(context, lambda c, _: (
            self._transport.get_extended_agent_card(params, context=c)))
        return self._rewrite(card)

    def __repr__(self) -> str:
        return f"MqttProxyHandler({self._name!r})"
