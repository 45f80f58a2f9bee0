"""One request message in, its replies out: the MQTT face of an a2a-sdk RequestHandler.

This mirrors what a2a-sdk's JSON-RPC dispatcher does over HTTP (envelope
checks, params decoding, version check, call context, handler call, error
mapping) with the binding's differences (docs/binding.md §6): replies go to
the request's Response Topic with its Correlation Data; streams are one
PUBLISH per event and the last carries ``a2a-stream-end``; Task.ids are the
requester's; a request without ``a2a-version`` is a v0.1-profile request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final

from a2a.extensions.common import get_requested_extensions
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import RequestHandler
from a2a.server.routes.common import serialize_list_tasks_response
from a2a.types.a2a_pb2 import (
    AgentCard,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
    VersionNotSupportedError,
)
from a2a.utils.proto_utils import to_stream_response
from google.protobuf.empty_pb2 import Empty
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message as ProtoMessage
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.card import card_to_dict
from a2a_mqtt.binding.codes import (
    BindingErrorKind,
    TransportProtocolError,
    binding_error_object,
    error_for_code,
    error_object,
)
from a2a_mqtt.binding.envelope import (
    RpcRequest,
    encode_error,
    encode_result,
    parse_params,
    parse_request,
)
from a2a_mqtt.binding.stream import (
    FINAL_STATES,
    INTERRUPTED_STATES,
    is_final_result,
    is_terminal_result,
    is_valid_task_id,
    state_name,
)
from a2a_mqtt.binding.topics import reply_topic_problem
from a2a_mqtt.errors import RemoteProtocolError, TransportError
from a2a_mqtt.mqtt_types import IncomingMessage, PublishProperties
from a2a_mqtt.observability import tracing
from a2a_mqtt.server.inflight import InflightEntry, InflightLog
from a2a_mqtt.server.keepcancel import cancel_count, reraise_if_swallowed
from a2a_mqtt.server.refusals import RefusalLog, refusal_reason
from a2a_mqtt.server.stores import KNOWN_ABSENT, TaskAccess
from a2a_mqtt.server.taskids import REQUESTED_TASK_ID, DedupGate, seen_in_history

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from a2a_mqtt.observability.agent import AgentMetrics, CallRecord
    from a2a_mqtt.security.authz import RequestAuthorizer
    from a2a_mqtt.security.e2e import E2EContext

__all__ = ["Publish", "RequestDispatcher"]

log = logging.getLogger("a2a_mqtt.server")

Publish = Callable[[str, bytes, PublishProperties], Awaitable[None]]
_SUPPORTED_MAJOR_MINOR: Final = (1, 0)
_CURRENT_VERSION: Final = "1.0"
_NULL: Final = json.dumps(None)  # the JSON-RPC id of every binary request
_DUPLICATE_WAIT: Final = 300.0
_ELSEWHERE_WAIT: Final = 10.0
_MESSAGE_MAX: Final = 500


class _Reply:
    """Replies for one request: same topic, same Correlation Data, in order.

    Invariants: the topic passed :func:`reply_topic_problem`; exactly one reply
    carries the end marker and nothing is published after it (a later send is
    dropped and logged); sending never raises (a reply that cannot be encoded
    becomes -32603, one that cannot be published is logged).
    """

    __slots__ = ("_corr", "_publish", "_responder", "_topic", "accept", "binary", "call", "e2e",
                 "ended")

    def __init__(self, publish: Publish, topic: str, corr: bytes | None, responder: str,
                 call: CallRecord | None = None) -> None:
        self._publish = publish
        self.call = call
        """Metrics of the request (None: metrics off)."""
        self._topic = topic
        self._corr = corr
        self._responder = responder
        self.ended = False
        self.e2e: tuple[E2EContext, str] | None = None
        """(our ubsp-v1 context, the requester) once the request was a ubsp-v1 one."""
        self.binary = False
        """Results go out as binary protobuf (the request's ``a2a-accept`` asked for it)."""
        self.accept: str | None = None
        """The ``a2a-accept`` value every reply carries (None: not sent)."""

    async def send(self, payload: bytes, *, end: bool, task_id: str | None = None,
                   retry_after: int | None = None, binary: bool = False) -> None:
        if self.ended:
            log.warning("reply to %s after its end marker dropped (%d bytes)",
                        self._topic, len(payload))
            return
        self.ended = end
        props = P.reply_properties(correlation_data=self._corr, responder_agent_id=self._responder,
                                   task_id=task_id, end=end, retry_after=retry_after,
                                   binary=binary, accept=self.accept)
        if self.e2e is not None:
            from a2a_mqtt.security.e2e_wire import seal_reply  # noqa: PLC0415 - optional feature

            sealed = await seal_reply(self.e2e[0], self.e2e[1], payload, props)
            if sealed is None:
                return  # fail closed: no key for the requester, so no reply at all
            payload, props = sealed
        if self.call is not None:
            self.call.sent(len(payload), end=end)
        try:
            await self._publish(self._topic, payload, props)
        except TransportError as exc:
            log.warning("reply to %s not delivered: %s", self._topic, exc)
        except Exception:
            log.exception("reply to %s could not be published", self._topic)

    async def result(self, rid: Any, result: Any, *, end: bool = True) -> None:
        try:
            payload = encode_result(rid, result)
        except (ValueError, TypeError):
            log.exception("the result for request %r cannot be encoded as JSON", rid)
            await self.error(rid, error_object(InternalError()))
            return
        await self.send(payload, end=end)

    async def message(self, rid: Any, message: ProtoMessage, *, end: bool = True) -> None:
        """A result given as its protobuf message: binary when the requester asked for
        it, else its ProtoJSON (the same reply a JSON requester always gets)."""
        if not self.binary:
            await self.result(rid, _dict(message), end=end)
            return
        payload = protobin.encode(message)
        fit = protobin.result_fit(message, payload)
        if fit == "binary":
            await self.send(payload, end=end, binary=True)
        elif fit == "json":  # nested too deep for a binary reader: this one goes as JSON
            await self.result(rid, _dict(message), end=end)
        else:  # what the JSON encoder would fail on: the same -32603
            log.error("the result for request %r cannot be encoded (a non-finite number)", rid)
            await self.error(rid, error_object(InternalError()))

    async def error(self, rid: Any, error: dict[str, Any], *,
                    retry_after: int | None = None) -> None:
        try:
            payload = encode_error(rid, error)
        except (ValueError, TypeError):
            log.exception("the error for request %r cannot be encoded as JSON", rid)
            payload = encode_error(None, error_object(InternalError()))
        if self.call is not None:
            code = error.get("code")
            self.call.code = code if isinstance(code, int) else -32603
        tracing.mark_error(error.get("code", 0), str(error.get("message", "")))
        await self.send(payload, end=True, retry_after=retry_after)


def _bounded(book: RefusalLog, key: Hashable, level: int, summary: str, line: str,
             *args: object) -> None:
    """Log ``line`` if ``book`` lets ``key`` through, and first the ``summary`` of what it
    held back since its last one (a peer can send such requests unthrottled)."""
    verdict = book.refuse(key)
    if verdict.suppressed:
        log.log(level, summary, verdict.suppressed)
    if verdict.log:
        log.log(level, line, *args)


def _clip(text: str, limit: int = _MESSAGE_MAX) -> str:
    """Error messages may quote the request; a reply never carries more than ``limit``."""
    return text if len(text) <= limit else text[:limit] + "..."


def _check_version(headers: dict[str, str]) -> None:
    raw = headers.get(P.A2A_VERSION, "").strip()
    if not raw or raw == _CURRENT_VERSION:
        return  # absent on MQTT means 1.0 (docs/binding.md §4.2); "1.0", every request's
    try:
        major, minor = (int(x) for x in raw.split(".")[:2])
    except ValueError:
        raise VersionNotSupportedError(f"A2A-Version {raw!r} is not a version") from None
    if (major, minor) != _SUPPORTED_MAJOR_MINOR:
        raise VersionNotSupportedError(f"A2A-Version {raw} is not supported; this agent speaks 1.0")


def _dict(message: ProtoMessage) -> dict[str, Any]:
    return MessageToDict(message)


class RequestDispatcher:
    """Turns request messages into handler calls and handler results into replies."""

    def __init__(
        self,
        *,
        handler: RequestHandler,
        tasks: TaskAccess,
        inflight: InflightLog,
        card: AgentCard,
        responder_id: str,
        owner: str,
        publish: Publish,
        max_payload_bytes: int,
        retry_after: int = 1,
        authorizer: RequestAuthorizer | None = None,
        e2e: E2EContext | None = None,
        metrics: AgentMetrics | None = None,
        binary: bool = True,
    ) -> None:
        self._handler = handler
        self._metrics = metrics
        self._tasks = tasks
        self._inflight = inflight
        self._card = card
        self._responder = responder_id
        self._owner = owner
        self._publish = publish
        self._max_payload = max_payload_bytes
        self._retry_after = retry_after
        self._authorizer = authorizer
        self._e2e = e2e
        # Binary protobuf payloads (docs/binding.md §3.4); ubsp-v1 payloads stay JSON.
        self._binary = binary and e2e is None
        self._gate = DedupGate()
        self._run = uuid.uuid4().hex
        self._refusals = RefusalLog()
        self._malformed = RefusalLog()

    @property
    def run(self) -> str:
        """This run's id: what tells its in-flight turns from an earlier run's."""
        return self._run

    def reply_for(self, msg: IncomingMessage, call: CallRecord | None = None) -> _Reply | None:
        """The reply channel of a request, or None (logged) when its Response Topic is
        missing or not one we may publish to (docs/binding.md §6.6)."""
        topic = msg.properties.response_topic
        problem = reply_topic_problem(topic)
        if problem is not None:
            self._refused(msg, problem)
            return None
        assert topic is not None
        return _Reply(self._publish, topic, msg.properties.correlation_data, self._responder,
                      call)

    def _refused(self, msg: IncomingMessage, problem: str) -> None:
        """Count a refusal; log it at a bounded rate (a client can send them unthrottled)."""
        if self._metrics is not None:
            self._metrics.refused(refusal_reason(problem))
        topic = _clip(msg.properties.response_topic or "", 120)
        who = msg.properties.user_property("a2a-requester-agent-id") or ""
        _bounded(self._refusals, (who, topic), logging.WARNING,
                 "%d further refused requests not logged (see a2a_mqtt.server.refused)",
                 "request on %s refused, not answered: %s (%r, %d bytes; repeats are "
                 "summarised)", msg.topic, problem, topic, len(msg.payload))

    def _log_malformed(self, msg: IncomingMessage, code: int, text: str) -> None:
        """A malformed request is answered every time and logged at a bounded rate, as
        refusals are: the first of each (requester, error code), then a count."""
        who = msg.properties.user_property("a2a-requester-agent-id") or ""
        _bounded(self._malformed, (who, code), logging.INFO,
                 "%d further malformed requests answered, not logged",
                 "bad request on %s: %s (repeats are summarised)", msg.topic, text)

    def _negotiate(self, msg: IncomingMessage, reply: _Reply) -> None:
        """docs/binding.md §3.4: results in binary only when the request asks for them;
        every reply then says that we read binary requests too (errors included)."""
        if self._binary and protobin.accepts(msg.properties.user_property(P.ACCEPT)):
            reply.binary = True
            reply.accept = protobin.CONTENT_TYPE

    def _begin(self, msg: IncomingMessage) -> CallRecord | None:
        return None if self._metrics is None else self._metrics.begin(len(msg.payload))

    async def reject(self, msg: IncomingMessage, kind: BindingErrorKind, text: str) -> None:
        """Answer a request with a binding error without decoding more than its id.

        A -32004 (overload) carries the ``retry-after`` hint."""
        call = self._begin(msg)
        reply = self.reply_for(msg, call)
        if reply is not None:
            self._negotiate(msg, reply)
            try:
                parsed = parse_request(msg.payload, max_bytes=self._max_payload)
                rid = parsed.id
                if call is not None:
                    call.named(parsed.method)
            except RemoteProtocolError:
                rid = None  # a binary request (no envelope) too: its id is null
            retry = (self._retry_after if kind is BindingErrorKind.RESPONDER_UNAVAILABLE
                     else None)
            await reply.error(rid, binding_error_object(kind, text), retry_after=retry)
        if call is not None:
            call.close()

    async def handle(self, msg: IncomingMessage) -> None:
        """Serve one request message; never raises.

        The message is acknowledged to the broker once it is taken: at once for
        everything but a new SendMessage turn, which is acknowledged only after
        its turn is claimed in the in-flight log (so a crash before that point
        leaves it to the broker to redeliver). A refused request is acknowledged
        too: redelivering it would only be refused again.
        """
        call = self._begin(msg)
        try:
            # The SERVER span is current for the whole turn: a2a-sdk runs the executor
            # in a copy of this context, so its span and its own calls are children.
            with tracing.server_span(msg.properties.user_properties, msg.topic) as span:
                await self._handle(msg, call, span)
        except Exception:
            log.exception("request on %s failed outside its reply path", msg.topic)
        finally:
            msg.acknowledge()
            if call is not None:
                call.close()

    async def _handle(self, msg: IncomingMessage, call: CallRecord | None,
                      span: Span | None) -> None:
        reply = self.reply_for(msg, call)
        if reply is None:
            return
        if self._e2e is not None:
            from a2a_mqtt.security.e2e_wire import open_request  # noqa: PLC0415 - optional feature

            opened = await open_request(self._e2e, msg, reply)
            if opened is None:
                return
            msg = opened
        rid: Any = None
        if msg.properties.correlation_data is None:
            await reply.error(None, error_object(TransportProtocolError(
                "request has no Correlation Data")))
            return
        self._negotiate(msg, reply)
        binary = self._binary and protobin.is_protobuf(msg.properties.content_type)
        try:
            try:
                if binary:
                    method, params = protobin.decode_request(
                        msg.properties.user_property(P.METHOD), msg.payload,
                        max_bytes=self._max_payload)
                    request = RpcRequest(id=None, method=method, params={})
                    if call is not None:
                        call.named(method)
                else:
                    request = parse_request(msg.payload, max_bytes=self._max_payload)
                    rid = request.id
                    if call is not None:
                        call.named(request.method)
                    params = parse_params(request)
                tracing.name_request(request.method, span)
            except RemoteProtocolError as exc:
                rid = exc.data if rid is None else rid
                text = _clip(exc.message)
                self._log_malformed(msg, exc.code, text)
                await reply.error(rid, error_object(error_for_code(exc.code, text)))
                return
            # Printed contexts (a2a-sdk logs them at DEBUG) must not show credentials.
            headers = P.RedactedParameters(P.service_parameters(msg.properties.user_properties))
            _check_version(headers)
            principal = None
            if self._authorizer is not None:
                principal = await self._authorizer.authorize(self._card, request.method,
                                                              params, headers)
            extensions = headers.get(P.EXTENSIONS)
            context = ServerCallContext(
                state={"headers": headers, "method": request.method, "request_id": rid,
                       "mqtt_topic": msg.topic, "principal": principal},
                tenant=getattr(params, "tenant", ""),
                # a2a-sdk's parse of the header; none asked for is its empty set.
                requested_extensions=(get_requested_extensions([extensions])
                                      if extensions else set()),
            )
            # A v0.1-profile requester sends no a2a-version and expects SendMessage as a stream.
            legacy = P.A2A_VERSION not in headers
            if request.method not in ("SendMessage", "SendStreamingMessage"):
                msg.acknowledge()
            await self._dispatch(request, params, context, reply, legacy=legacy, msg=msg)
        except A2AError as exc:
            await reply.error(rid, error_object(exc))
        except SQLAlchemyTimeoutError:
            # The task store's connection pool is exhausted: saturation, not a fault.
            log.warning("request %r on %s refused: task store busy", rid, msg.topic)
            await reply.error(rid, binding_error_object(
                BindingErrorKind.RESPONDER_UNAVAILABLE, "task store busy; retry later"),
                retry_after=self._retry_after)
        except Exception:
            log.exception("request %r on %s failed", rid, msg.topic)
            await reply.error(rid, error_object(InternalError()))

    async def _dispatch(self, request: RpcRequest, params: Any, ctx: ServerCallContext,
                        reply: _Reply, *, legacy: bool, msg: IncomingMessage) -> None:
        h = self._handler
        rid = request.id
        match request.method:
            case "SendMessage" | "SendStreamingMessage":
                stream = request.method == "SendStreamingMessage" or (
                    legacy and self._card.capabilities.streaming)
                await self._send(rid, params, ctx, reply, stream=stream, msg=msg)
            case "SubscribeToTask":
                await self._stream(rid, h.on_subscribe_to_task(params, ctx), reply,
                                   until_terminal=True)
            case "GetTask":
                task = await h.on_get_task(params, ctx)
                if task is None:
                    raise TaskNotFoundError
                await reply.message(rid, task)
            case "ListTasks":
                listed = await h.on_list_tasks(params, ctx)
                if reply.binary:
                    await reply.message(rid, _listed(listed, params.include_artifacts))
                else:
                    await reply.result(rid, serialize_list_tasks_response(
                        listed, params.include_artifacts))
            case "CancelTask":
                task = await h.on_cancel_task(params, ctx)
                if task is None:
                    raise TaskNotFoundError
                await reply.message(rid, task)
            case "CreateTaskPushNotificationConfig":
                await reply.message(
                    rid, await h.on_create_task_push_notification_config(params, ctx))
            case "GetTaskPushNotificationConfig":
                await reply.message(
                    rid, await h.on_get_task_push_notification_config(params, ctx))
            case "ListTaskPushNotificationConfigs":
                await reply.message(
                    rid, await h.on_list_task_push_notification_configs(params, ctx))
            case "DeleteTaskPushNotificationConfig":
                await h.on_delete_task_push_notification_config(params, ctx)
                if reply.binary:
                    await reply.message(rid, Empty())
                else:
                    await reply.result(rid, None)
            case "GetExtendedAgentCard":
                card = await h.on_get_extended_agent_card(params, ctx)
                if reply.binary:
                    await reply.message(rid, card)
                else:
                    await reply.result(rid, card_to_dict(card))

    async def _send(self, rid: Any, params: SendMessageRequest, ctx: ServerCallContext,
                    reply: _Reply, *, stream: bool, msg: IncomingMessage) -> None:
        message = params.message
        task_id, message_id = message.task_id, message.message_id
        if not task_id:
            raise TransportProtocolError(
                "missing required Task.id (message.taskId): the requester generates it")
        if not is_valid_task_id(task_id):
            raise TransportProtocolError(f"malformed Task.id {task_id!r}: expected a UUID")
        async with self._gate.lock(task_id):
            state = self._gate.state(task_id, message_id)
            if state == "new":
                # The turn first, then the read: while we hold the turn nobody else can
                # create the task, so "absent" stays true until our handler's first
                # write (which lets KnownAbsentStore skip the handler's re-reads).
                claimed = await self._inflight.claim(InflightEntry(
                    task_id=task_id, message_id=message_id, owner=self._owner,
                    method="stream" if stream else "unary",
                    response_topic=msg.properties.response_topic or "",
                    correlation=msg.properties.correlation_data,
                    request_id=_NULL if rid is None else json.dumps(rid),
                    context_id=message.context_id,
                    run=self._run))
                if not claimed:
                    state = "elsewhere"  # another member (or process) holds this turn
                else:
                    try:
                        state = await self._take_turn(task_id, message, ctx)
                    except BaseException:
                        await self._release(task_id)
                        raise
                    if state == "new":
                        self._gate.begin(task_id, message_id)
                    else:
                        await self._release(task_id)
        msg.acknowledge()
        if state != "new":
            await self._answer_duplicate(rid, task_id, message_id, ctx, reply, stream=stream,
                                         elsewhere=state == "elsewhere")
            return
        cancelled = False
        try:
            if stream:
                await self._stream(rid, self._handler.on_message_send_stream(params, ctx), reply,
                                   on_first=lambda: self._gate.settled(task_id, message_id))
            else:
                # Not through keepcancel.kept: one coroutine fewer per request.
                cancels = cancel_count()
                result = await self._handler.on_message_send(params, ctx)
                reraise_if_swallowed(cancels)
                # A SendMessageResponse's ProtoJSON, without copying the result into one.
                if isinstance(result, Task):
                    if self._metrics is not None:
                        self._metrics.task_state(state_name(result.status.state))
                    if reply.binary:
                        await reply.message(rid, SendMessageResponse(task=result))
                    else:
                        saved = self._tasks.saved_dict(result, ctx)
                        await reply.result(rid, {"task": _dict(result) if saved is None
                                                 else saved})
                elif reply.binary:
                    await reply.message(rid, SendMessageResponse(message=result))
                else:
                    await reply.result(rid, {"message": _dict(result)})
        except asyncio.CancelledError:
            # Cancelled by a stop that outlasted its grace: the claim stays, and
            # recovery fails the task and answers the requester (see recover()).
            cancelled = True
            raise
        finally:
            self._gate.finish(task_id, message_id)
            if not cancelled:
                # Answered, or about to be answered with the error the handler raised:
                # an entry left behind would make recovery answer a second time.
                await self._release(task_id)

    async def _take_turn(self, task_id: str, message: Message, ctx: ServerCallContext) -> str:
        """Decide, holding the turn, whether this SendMessage starts one ("new") or
        repeats a turn already taken ("done"); prepares ``message`` for the handler."""
        stored = await self._tasks.get(task_id, ctx)
        if stored is None:
            ctx.state[REQUESTED_TASK_ID] = task_id
            ctx.state[KNOWN_ABSENT] = task_id
            message.task_id = ""
            return "new"
        if message.context_id and message.context_id != stored.context_id:
            raise InvalidParamsError(
                message=f"contextId {message.context_id} does not match context "
                        f"{stored.context_id} of task {task_id}")
        if (message.message_id and seen_in_history(stored, message.message_id)) or (
                state_name(stored.status.state) not in INTERRUPTED_STATES):
            # The profile: a known Task.id returns its existing state; only an
            # interrupted task (input-/auth-required) takes a new turn.
            return "done"
        return "new"

    async def _release(self, task_id: str) -> None:
        # The requester has its answer: a release that fails (after the log's own
        # retries) must not turn into a second, contradicting reply. The entry stays;
        # recovery finds the task terminal and leaves its outcome as it is.
        try:
            await self._inflight.release(task_id, self._owner)
        except Exception:
            log.exception("could not release the in-flight entry of task %s", task_id)

    async def _answer_duplicate(self, rid: Any, task_id: str, message_id: str,
                                ctx: ServerCallContext, reply: _Reply, *, stream: bool,
                                elsewhere: bool = False) -> None:
        """A retry of a request already taken: answer from the store, start nothing."""
        log.info("duplicate request for task %s message %s answered from the store",
                 task_id, message_id)
        if self._metrics is not None:
            self._metrics.dedup_hit()
        await self._gate.wait_settled(task_id, message_id, _DUPLICATE_WAIT)
        task = await self._tasks.get(task_id, ctx)
        if task is None and elsewhere:
            # Another process holds the turn and has not written the task yet.
            task = await self._poll_for(task_id, ctx)
        if task is None:
            raise TaskNotFoundError(f"Task {task_id} not found")
        if not stream:
            await reply.message(rid, SendMessageResponse(task=task))
        elif state_name(task.status.state) in FINAL_STATES:
            await reply.message(rid, StreamResponse(task=task))
        else:
            await self._stream(rid, self._reattach(task_id, ctx), reply)

    async def _reattach(self, task_id: str, ctx: ServerCallContext
                        ) -> AsyncGenerator[Any, None]:
        """A retried stream follows the running task as a subscription.

        The task may end between the store read that found it running and the
        subscription, which then refuses it ("in terminal state", "already
        completed"): the retry gets the task as it ended instead, like a retry
        that came a moment later.
        """
        events = self._handler.on_subscribe_to_task(
            SubscribeToTaskRequest(id=task_id, tenant=ctx.tenant), ctx)
        async with aclosing(events) as agen:
            try:
                first = await anext(agen)
            except UnsupportedOperationError:
                task = await self._tasks.get(task_id, ctx)
                if task is None or state_name(task.status.state) not in FINAL_STATES:
                    raise
                yield task
                return
            yield first
            async for event in agen:
                yield event

    async def _poll_for(self, task_id: str, ctx: ServerCallContext) -> Task | None:
        delay = 0.02
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _ELSEWHERE_WAIT
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            task = await self._tasks.get(task_id, ctx)
            if task is not None:
                return task
            delay = min(delay * 2, 0.5)
        return None

    async def recover(self, owner: str, reason: str, *, own: bool = False) -> int:
        """Fail every turn ``owner`` left in flight and tell each requester; return the count.

        Run by an agent on start for its own earlier runs (``own``: the turns of
        this run are left alone), and by a pool member for a member whose will it
        saw. Entries are taken atomically, so
        each abandoned turn is answered exactly once.
        """
        entries = await self._inflight.take(owner, except_run=self._run if own else "")
        for entry in entries:
            # Taken from the log already: one entry that cannot be answered must
            # not cost the others their answer (nor the agent its start).
            try:
                await self._recover_one(entry, owner, reason)
            except Exception:
                log.exception("could not recover abandoned task %s", entry.task_id)
        return len(entries)

    async def _recover_one(self, entry: InflightEntry, owner: str, reason: str) -> None:
        ctx = ServerCallContext(state={"headers": {}, "method": "recover"})
        task = await self._tasks.fail(entry.task_id, reason, ctx, context_id=entry.context_id)
        problem = reply_topic_problem(entry.response_topic)
        if problem is None and self._e2e is not None:
            # ubsp-v1: the log does not keep the requester's identity, so the answer could
            # not be encrypted; the requester learns the outcome with GetTask.
            problem = "ubsp-v1 answers need the requester's key"
        if problem is not None:
            log.warning("task %s abandoned by %s: marked %s, requester not told (%s)",
                        entry.task_id, owner, state_name(task.status.state), problem)
            return
        # A stored id that cannot be sent back (not JSON, a lone surrogate, an array)
        # is answered as null: the requester correlates by Correlation Data.
        rid = entry.reply_id
        reply = _Reply(self._publish, entry.response_topic, entry.correlation, self._responder)
        if entry.method == "stream":
            update = TaskStatusUpdateEvent(task_id=task.id, context_id=task.context_id,
                                           status=task.status)
            await reply.result(rid, _dict(to_stream_response(update)))
        else:
            await reply.result(rid, _dict(SendMessageResponse(task=task)))
        log.warning("task %s abandoned by %s: marked %s and requester told",
                    entry.task_id, owner, state_name(task.status.state))

    async def _stream(self, rid: Any, events: AsyncGenerator[Any, None], reply: _Reply,
                      on_first: Callable[[], None] | None = None, *,
                      until_terminal: bool = False) -> None:
        """Publish each event in order; the last reply carries the end marker.

        A send stream ends at a terminal or interrupted state; a subscription
        (``until_terminal``) only at a terminal one.
        """
        final = is_terminal_result if until_terminal else is_final_result
        metrics = self._metrics
        cancels = cancel_count()
        if metrics is not None:
            metrics.stream(1)
        try:
            async with aclosing(events) as agen:
                async for event in agen:
                    if on_first is not None:
                        on_first()
                        on_first = None
                    item = to_stream_response(event)
                    if reply.binary:
                        if metrics is not None:
                            _note_item(metrics, item)
                        await reply.message(
                            rid, item, end=protobin.item_ends(item, until_terminal=until_terminal))
                    else:
                        result = _dict(item)
                        if metrics is not None:
                            _note_state(metrics, result)
                        await reply.result(rid, result, end=final(result))
                    if reply.ended:
                        break  # nothing follows the end marker (closes the handler's stream)
        except A2AError as exc:
            reraise_if_swallowed(cancels)
            await reply.error(rid, error_object(exc))
            return
        finally:
            if on_first is not None:
                on_first()
            if metrics is not None:
                metrics.stream(-1)
        # A stream a2a-sdk ended because it swallowed our cancellation is not over.
        reraise_if_swallowed(cancels)
        if not reply.ended:
            # The handler closed the stream without a final event: say so explicitly
            # (binary: an empty StreamResponse, whose wire form is no bytes).
            if reply.binary:
                await reply.message(rid, StreamResponse(), end=True)
            else:
                await reply.result(rid, {}, end=True)


def _listed(listed: ListTasksResponse, include_artifacts: bool) -> ListTasksResponse:
    """A ListTasks result as a2a-sdk's serializer shapes it: artifacts only if asked."""
    if include_artifacts or not any(task.artifacts for task in listed.tasks):
        return listed
    out = ListTasksResponse()
    out.CopyFrom(listed)
    for task in out.tasks:
        del task.artifacts[:]
    return out


def _note_item(metrics: AgentMetrics, item: StreamResponse) -> None:
    """:func:`_note_state` for a stream item kept as its message (binary replies)."""
    kind = item.WhichOneof("payload")
    if kind == "status_update":
        metrics.task_state(state_name(item.status_update.status.state))
    elif kind == "task":
        metrics.task_state(state_name(item.task.status.state))


def _note_state(metrics: AgentMetrics, result: dict[str, Any]) -> None:
    """Count the task state a stream event publishes (a status update or a whole task)."""
    body = result.get("statusUpdate") or result.get("task")
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict):
            state = status.get("state")
            if isinstance(state, str):
                metrics.task_state(state)
