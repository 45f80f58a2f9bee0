"""MqttClientTransport: a2a-sdk's ClientTransport over the MQTT binding.

Registered with ``ClientFactory`` (see :mod:`a2a_mqtt.client.factory`), it lets
the stock a2a-sdk ``Client`` call MQTT agents unchanged. Requests are ProtoJSON
params of the A2A method; service parameters from ``ClientCallContext`` ride as
``a2a-*`` User Properties with ``A2A-Version: 1.0`` added. A SendMessage
without a Task.id gets a fresh requester-generated one (and a contextId), as
the profile requires.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from a2a.client.client import ClientCallContext
from a2a.client.errors import A2AClientError
from a2a.client.transports.base import ClientTransport
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
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.proto_utils import parse_lenient
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message as ProtoMessage

from a2a_mqtt.binding.stream import new_context_id, new_task_id
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.aggregate import TaskAggregator
from a2a_mqtt.client.requester import Reply, Requester

__all__ = ["MqttClientTransport"]

_M = TypeVar("_M", bound=ProtoMessage)
_ID_MEMBERS = ("taskId", "task_id", "contextId", "context_id")
_STREAM_MEMBERS = frozenset({"task", "message", "statusUpdate", "artifactUpdate"})


def _parse(result: Any, message: _M) -> _M:
    if isinstance(result, ProtoMessage):
        # A binary reply (docs/binding.md §3.4): the message itself, or one of the same
        # wire form (SendMessageResponse and StreamResponse share their field numbers).
        if result.DESCRIPTOR is message.DESCRIPTOR:
            return result  # type: ignore[return-value]
        message.ParseFromString(result.SerializeToString())
        return message
    if not isinstance(result, dict):
        raise A2AClientError(f"invalid result: expected an object, got {type(result).__name__}")
    try:
        parsed: _M = parse_lenient(result, message)
    except Exception as exc:
        raise A2AClientError(f"invalid result for {type(message).__name__}: {exc}") from exc
    return parsed


def _json_with_ids(params: dict[str, Any], message: Message) -> dict[str, Any]:
    """``params`` (ProtoJSON of a SendMessageRequest) with ``message``'s ids, in the
    canonical member names (a client may have used either spelling, or null)."""
    out = dict(params)
    body = dict(params.get("message") or {})
    for name in _ID_MEMBERS:
        body.pop(name, None)
    body["taskId"] = message.task_id
    if message.context_id:
        body["contextId"] = message.context_id
    out["message"] = body
    return out


def _is_send_result(result: Any) -> bool:
    """The shape of a SendMessageResponse's ProtoJSON: one member, ``task`` or
    ``message``, holding an object (the fields inside are the agent's)."""
    if not isinstance(result, dict) or len(result) != 1:
        return False
    value = result.get("task", result.get("message"))
    return isinstance(value, dict)


def _is_stream_item(result: Any) -> bool:
    """The shape of a StreamResponse's ProtoJSON: one payload member holding an object."""
    if not isinstance(result, dict) or len(result) != 1:
        return False
    ((key, value),) = result.items()
    return key in _STREAM_MEMBERS and isinstance(value, dict)


def _with_ids(request: SendMessageRequest) -> SendMessageRequest:
    """A first message gets a requester-generated Task.id (and a contextId if it has
    none); a continuation keeps what it has: the agent infers a missing contextId
    from the task."""
    if request.message.task_id:
        return request
    out = SendMessageRequest()
    out.CopyFrom(request)
    out.message.task_id = new_task_id()
    if not out.message.context_id:
        out.message.context_id = new_context_id()
    return out


class MqttClientTransport(ClientTransport):
    """Calls one agent (or pool) through a shared :class:`Requester`."""

    def __init__(self, *, requester: Requester, agent: AgentRef,
                 card: AgentCard | None = None, owns_requester: bool = False) -> None:
        self.requester = requester
        self.agent = agent
        self.agent_card = card
        self._owns = owns_requester
        e2e = requester.config.e2e
        if e2e is not None and card is not None:
            e2e.learn(str(agent), card)  # ubsp-v1: the agent's key, from its card

    def _ctx(self, context: ClientCallContext | None) -> tuple[dict[str, str] | None,
                                                                float | None]:
        if context is None:
            return None, None
        return dict(context.service_parameters or {}), context.timeout

    def _target(self, task_id: str | None) -> AgentRef:
        return self.requester.route(self.agent, task_id)

    def _follow(self, reply: Reply, task_id: str | None) -> None:
        if self.agent.pool and reply.responder and task_id:
            self.requester.note_responder(self.agent, task_id, reply.responder)

    async def _call(self, method: str, request: ProtoMessage,
                    context: ClientCallContext | None, task_id: str | None = None) -> Any:
        sp, timeout = self._ctx(context)
        async for reply in self.requester.stream(
                self._target(task_id), method, request, service_params=sp,
                timeout=timeout, unary=True):
            self._follow(reply, task_id)
            return reply.result
        raise A2AClientError(f"{method}: no result")

    async def _stream(self, method: str, request: ProtoMessage,
                      context: ClientCallContext | None, task_id: str | None
                      ) -> AsyncGenerator[StreamResponse]:
        sp, timeout = self._ctx(context)
        async for reply in self.requester.stream(self._target(task_id), method,
                                                 request, service_params=sp,
                                                 timeout=timeout):
            self._follow(reply, task_id)
            if reply.result == {} and reply.end:
                return  # explicit end-of-stream marker without an item
            yield _parse(reply.result, StreamResponse())

    async def send_message(self, request: SendMessageRequest, *,
                           context: ClientCallContext | None = None) -> SendMessageResponse:
        request = _with_ids(request)
        task_id = request.message.task_id
        sp, timeout = self._ctx(context)
        aggregator: TaskAggregator | None = None
        async for reply in self.requester.stream(self._target(task_id), "SendMessage",
                                                 request, service_params=sp,
                                                 timeout=timeout):
            self._follow(reply, task_id)
            result = reply.result
            if aggregator is None and isinstance(result, SendMessageResponse):
                return result
            if aggregator is None and isinstance(result, dict) and (
                    "task" in result or "message" in result):
                return _parse(result, SendMessageResponse())
            # A v0.1-profile responder streams even a plain SendMessage: fold the events.
            aggregator = aggregator or TaskAggregator(request.message)
            if result != {}:
                aggregator.apply(_parse(result, StreamResponse()))
        if aggregator is None:
            raise A2AClientError("SendMessage: no result")
        return aggregator.response()

    async def send_message_json(self, request: SendMessageRequest, params: dict[str, Any], *,
                                context: ClientCallContext | None = None) -> dict[str, Any]:
        """SendMessage from and to ProtoJSON, for a relay that holds the JSON already.

        ``params`` is the request as JSON and ``request`` the same request decoded
        (the caller has checked that ``params`` decodes to it). ``params`` travels as
        it is, with the ids of :meth:`send_message` set; the agent's result comes
        back as it is when it has a SendMessageResponse's shape
        (``{"task": {...}}`` or ``{"message": {...}}``), so neither side is decoded
        into protobuf and encoded again. Any other reply takes :meth:`send_message`'s
        path (decoded, folded, errors raised the same way) and is returned as ProtoJSON.
        """
        request = _with_ids(request)
        task_id = request.message.task_id
        sp, timeout = self._ctx(context)
        aggregator: TaskAggregator | None = None
        async for reply in self.requester.stream(self._target(task_id), "SendMessage",
                                                 _json_with_ids(params, request.message),
                                                 service_params=sp, timeout=timeout):
            self._follow(reply, task_id)
            result = reply.result
            if aggregator is None and _is_send_result(result):
                return result  # type: ignore[no-any-return]
            if aggregator is None and isinstance(result, dict) and (
                    "task" in result or "message" in result):
                return MessageToDict(_parse(result, SendMessageResponse()))
            aggregator = aggregator or TaskAggregator(request.message)
            if result != {}:
                aggregator.apply(_parse(result, StreamResponse()))
        if aggregator is None:
            raise A2AClientError("SendMessage: no result")
        return MessageToDict(aggregator.response())

    async def send_message_streaming_json(
        self, request: SendMessageRequest, params: dict[str, Any], *,
        context: ClientCallContext | None = None,
    ) -> AsyncGenerator[dict[str, Any]]:
        """:meth:`send_message_streaming` from and to ProtoJSON (see :meth:`send_message_json`):
        each event the agent sends in a StreamResponse's shape is yielded as it came;
        any other is decoded (errors as :meth:`send_message_streaming`) and re-encoded.
        An empty event yields ``{}``."""
        request = _with_ids(request)
        task_id = request.message.task_id
        sp, timeout = self._ctx(context)
        async for reply in self.requester.stream(self._target(task_id), "SendStreamingMessage",
                                                 _json_with_ids(params, request.message),
                                                 service_params=sp, timeout=timeout):
            self._follow(reply, task_id)
            if reply.result == {} and reply.end:
                return  # explicit end-of-stream marker without an item
            if _is_stream_item(reply.result):
                yield reply.result
            else:
                yield MessageToDict(_parse(reply.result, StreamResponse()))

    async def send_message_streaming(self, request: SendMessageRequest, *,
                                     context: ClientCallContext | None = None
                                     ) -> AsyncGenerator[StreamResponse]:
        request = _with_ids(request)
        async for item in self._stream("SendStreamingMessage", request, context,
                                       request.message.task_id):
            yield item

    async def get_task(self, request: GetTaskRequest, *,
                       context: ClientCallContext | None = None) -> Task:
        return _parse(await self._call("GetTask", request, context, request.id), Task())

    async def list_tasks(self, request: ListTasksRequest, *,
                         context: ClientCallContext | None = None) -> ListTasksResponse:
        return _parse(await self._call("ListTasks", request, context), ListTasksResponse())

    async def cancel_task(self, request: CancelTaskRequest, *,
                          context: ClientCallContext | None = None) -> Task:
        return _parse(await self._call("CancelTask", request, context, request.id), Task())

    async def create_task_push_notification_config(
        self, request: TaskPushNotificationConfig, *, context: ClientCallContext | None = None,
    ) -> TaskPushNotificationConfig:
        return _parse(await self._call("CreateTaskPushNotificationConfig", request, context,
                                       request.task_id),
                      TaskPushNotificationConfig())

    async def get_task_push_notification_config(
        self, request: GetTaskPushNotificationConfigRequest, *,
        context: ClientCallContext | None = None,
    ) -> TaskPushNotificationConfig:
        return _parse(await self._call("GetTaskPushNotificationConfig", request, context,
                                       request.task_id),
                      TaskPushNotificationConfig())

    async def list_task_push_notification_configs(
        self, request: ListTaskPushNotificationConfigsRequest, *,
        context: ClientCallContext | None = None,
    ) -> ListTaskPushNotificationConfigsResponse:
        return _parse(await self._call("ListTaskPushNotificationConfigs", request, context,
                                       request.task_id),
                      ListTaskPushNotificationConfigsResponse())

    async def delete_task_push_notification_config(
        self, request: DeleteTaskPushNotificationConfigRequest, *,
        context: ClientCallContext | None = None,
    ) -> None:
        await self._call("DeleteTaskPushNotificationConfig", request, context, request.task_id)

    async def subscribe(self, request: SubscribeToTaskRequest, *,
                        context: ClientCallContext | None = None
                        ) -> AsyncGenerator[StreamResponse]:
        async for item in self._stream("SubscribeToTask", request, context, request.id):
            yield item

    async def get_extended_agent_card(self, request: GetExtendedAgentCardRequest, *,
                                      context: ClientCallContext | None = None) -> AgentCard:
        if self.agent_card is not None and not self.agent_card.capabilities.extended_agent_card:
            return self.agent_card
        return _parse(await self._call("GetExtendedAgentCard", request, context), AgentCard())

    async def close(self) -> None:
        if self._owns:
            await self.requester.close()
