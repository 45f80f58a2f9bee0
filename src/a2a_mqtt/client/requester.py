"""Requester: JSON-RPC calls over MQTT request/reply, with the profile's retries.

One MQTT session serves every call: one reply topic, subscribed before any
request names it; replies are routed by Correlation Data. A call publishes
the request (QoS 1), waits for the first correlated reply, then for each next
one, and ends at the ``a2a-stream-end`` marker (or, for v0.1 peers, at a final
state). Retries follow docs/binding.md §6.5: new Correlation Data, same
payload (so the same Task.id), replies to any earlier attempt still accepted,
never a retry after the first reply.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import logging
import random
import secrets
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AsyncExitStack, aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card
from a2a_mqtt.binding.codes import (
    BindingError,
    ResponderUnavailableError,
    TransportProtocolError,
    error_from_object,
)
from a2a_mqtt.binding.envelope import encode_request, parse_response
from a2a_mqtt.binding.stream import is_final_result
from a2a_mqtt.binding.topics import (
    AgentRef,
    discovery_topic,
    reply_filter,
    reply_topic,
    request_topic,
)
from a2a_mqtt.binding.tracecontext import inject_span
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.retry import (
    RETRY_AFTER,
    OverloadedError,
    backoff_delay,
    overload_delay,
    parse_retry_after,
)
from a2a_mqtt.errors import PublishError, RemoteProtocolError, TransportError
from a2a_mqtt.mqtt_types import (
    IncomingMessage,
    PublishProperties,
    Subscription,
)
from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.client import ClientCall, ClientMetrics
from a2a_mqtt.observability.transport import TransportMetrics
from a2a_mqtt.transport.base import MqttTransport, TransportFactory, default_transport

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["Reply", "Requester"]

log = logging.getLogger("a2a_mqtt.client")

_NO_MATCHING_SUBSCRIBERS: Final = 0x10
_DEFAULT_VERSION: Final = {"A2A-Version": "1.0"}
_MAX_RESPONDERS: Final = 100_000
_DEDUP_WINDOW: Final = 256


class Reply:
    """One correlated reply: its JSON-RPC result and whether it ends the stream."""

    __slots__ = ("end", "responder", "result")

    def __init__(self, result: Any, end: bool, responder: str | None) -> None:
        self.result = result
        self.end = end
        self.responder = responder


class _Call:
    """Replies for one call, across all of its attempts' Correlation Data.

    Bounded: at most ``limit`` unread replies (past that the call fails rather
    than grow) and a duplicate filter over the last :data:`_DEDUP_WINDOW` replies.
    """

    __slots__ = ("_event", "_limit", "_order", "_queue", "_seen", "overflowed")

    def __init__(self, limit: int) -> None:
        self._queue: collections.deque[IncomingMessage] = collections.deque()
        self._event = asyncio.Event()
        self._seen: set[bytes] = set()
        self._order: collections.deque[bytes] = collections.deque()
        self._limit = limit
        self.overflowed = False

    def deliver(self, msg: IncomingMessage) -> None:
        if self.overflowed:
            return
        # A QoS 1 redelivery repeats the reply byte for byte; so does the answer
        # to a retry's Correlation Data, which must not count as a second answer.
        key = hashlib.blake2b(msg.payload, digest_size=16).digest()
        if key in self._seen:
            return
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > _DEDUP_WINDOW:
            self._seen.discard(self._order.popleft())
        if len(self._queue) >= self._limit:
            self.overflowed = True
            self._queue.clear()
        else:
            self._queue.append(msg)
        self._event.set()

    async def next(self, timeout: float) -> IncomingMessage:
        while not self._queue:
            if self.overflowed:
                raise A2AClientError(f"more than {self._limit} replies unread; the call "
                                     "is abandoned (resume with SubscribeToTask)")
            self._event.clear()
            async with asyncio.timeout(timeout):
                await self._event.wait()
        return self._queue.popleft()

    @property
    def buffered(self) -> int:
        return len(self._queue)


class Requester:
    """Sends requests and yields correlated replies; an async context manager."""

    def __init__(self, config: RequesterConfig | None = None, *,
                 transport_factory: TransportFactory | None = None,
                 metrics: Metrics | None = None) -> None:
        self.config = config or RequesterConfig()
        self._metrics = ClientMetrics(metrics) if metrics is not None else None
        self.identity = AgentRef(self.config.org, self.config.unit, self.config.requester_id)
        self.reply_topic = reply_topic(self.identity, uuid.uuid4().hex[:16])
        self._factory = transport_factory
        self._transport: MqttTransport | None = None
        self._calls: dict[bytes, _Call] = {}
        self._barriers: dict[bytes, asyncio.Future[None]] = {}
        # (pool, task id) -> the member that answered last: later task operations go there.
        self._responders: collections.OrderedDict[tuple[AgentRef, str], AgentRef] = (
            collections.OrderedDict())
        self._stack: AsyncExitStack | None = None

    @property
    def connected(self) -> bool:
        """Started and connected to the broker (the reply subscription is re-sent with
        every CONNACK)."""
        return self._transport is not None and self._transport.connected

    @property
    def transport(self) -> MqttTransport:
        if self._transport is None:
            raise RuntimeError("Requester is not started")
        return self._transport

    async def __aenter__(self) -> Requester:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        if self._transport is not None:
            raise RuntimeError("Requester is already started (not reentrant)")
        cfg = self.config
        options = cfg.connection.connect_options(
            client_id=self.identity.client_id,
            # A fresh random identity has no old session, so clean_start=False only
            # matters on reconnects: replies queued during an outage are resumed.
            clean_start=False, session_expiry=cfg.session_expiry)
        if self._metrics is not None:
            options = dataclasses.replace(options, stats=TransportMetrics(
                self._metrics.metrics, client_id=self.identity.client_id))
        transport = (self._factory or default_transport)(options)
        await transport.subscribe(Subscription(reply_filter(self.identity), qos=1),
                                  self._on_reply)
        self._transport = transport
        try:
            await transport.connect()
            if cfg.e2e is not None:
                await self._publish_key_card(transport)
        except BaseException:
            self._transport = None
            raise

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.disconnect()

    def _on_reply(self, msg: IncomingMessage) -> None:
        corr = msg.properties.correlation_data
        if corr is None:
            log.warning("reply on %s without Correlation Data ignored", msg.topic)
            return
        call = self._calls.get(corr)
        if call is not None:
            call.deliver(msg)
            return
        barrier = self._barriers.pop(corr, None)
        if barrier is not None and not barrier.done():
            barrier.set_result(None)
            return
        log.debug("reply for unknown correlation %r ignored (late or duplicate)", corr)

    async def barrier(self, timeout: float = 10.0) -> None:
        """Round-trip a message to ourselves: everything the broker queued for us before
        this call (retained cards from a new subscription, say) has then been delivered."""
        corr = f"sync-{uuid.uuid4().hex}".encode()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers[corr] = future
        try:
            await self.transport.publish(self.reply_topic, b"{}", qos=1,
                                         properties=P.reply_properties(correlation_data=corr))
            async with asyncio.timeout(timeout):
                await future
        finally:
            self._barriers.pop(corr, None)

    def note_responder(self, pool: AgentRef, task_id: str, responder: str) -> None:
        """Remember which member of ``pool`` serves ``task_id`` (the latest one wins:
        a new responder for the same task is a handover)."""
        key = (pool, task_id)
        self._responders[key] = AgentRef(pool.org, pool.unit, responder)
        self._responders.move_to_end(key)
        while len(self._responders) > _MAX_RESPONDERS:
            self._responders.popitem(last=False)

    def route(self, agent: AgentRef, task_id: str | None) -> AgentRef:
        """Where a task-scoped request goes: the member serving it, else ``agent``."""
        if not agent.pool or not task_id:
            return agent
        return self._responders.get((agent, task_id), agent)

    def _delay(self, attempt: int, error: BaseException | None) -> float | None:
        """The wait before retry ``attempt + 1``; None when ``error`` asks for longer
        than we are willing to wait (then it is raised instead)."""
        cfg = self.config
        if isinstance(error, OverloadedError):
            return overload_delay(error.retry_after, limit=cfg.max_retry_after,
                                  jitter=cfg.jitter, rand=random.random())
        return backoff_delay(cfg.backoff, attempt, cfg.jitter, random.random())

    async def call(self, agent: AgentRef, method: str, params: dict[str, Any], *,
                   service_params: Mapping[str, str] | None = None,
                   timeout: float | None = None) -> Any:
        """One request, one result (raising the mapped error for an error reply)."""
        async for reply in self.stream(agent, method, params, service_params=service_params,
                                       timeout=timeout, unary=True):
            return reply.result
        raise A2AClientError(f"{method}: the stream ended without a result")

    async def stream(self, agent: AgentRef, method: str, params: dict[str, Any], *,
                     service_params: Mapping[str, str] | None = None,
                     timeout: float | None = None, unary: bool = False
                     ) -> AsyncIterator[Reply]:
        """Yield every reply of one request until the stream ends.

        ``unary`` ends after the first reply. ``timeout`` overrides both the
        first-reply and the idle timeout. Error replies raise the a2a-sdk error
        class they map to (docs/binding.md §7).
        """
        record = self._metrics.begin(method) if self._metrics is not None else None
        # aclosing: a caller that stops reading closes the inner generator at once, so
        # its correlation entries go now, not when the garbage collector gets to it.
        if record is None:
            inner = self._stream(agent, method, params, service_params=service_params,
                                 timeout=timeout, unary=unary, record=None)
            async with aclosing(inner) as replies:
                async for reply in replies:
                    yield reply
            return
        # The failure is never kept in a local beyond its except clause: a unary call
        # ends with the GeneratorExit of this generator's aclose(), and a kept exception
        # (exception -> traceback -> this frame -> local) is a reference cycle holding the
        # whole call until the cyclic collector runs (docs/performance.md, "Observability:
        # what metrics cost").
        try:
            inner = self._stream(agent, method, params, service_params=service_params,
                                 timeout=timeout, unary=unary, record=record)
            async with aclosing(inner) as replies:
                async for reply in replies:
                    record.replied = True
                    yield reply
        except BaseException as exc:
            record.end(exc)
            raise
        record.end(None)

    async def _stream(self, agent: AgentRef, method: str, params: dict[str, Any], *,
                      service_params: Mapping[str, str] | None, timeout: float | None,
                      unary: bool, record: ClientCall | None) -> AsyncGenerator[Reply, None]:
        cfg = self.config
        first_timeout = timeout or cfg.reply_first_timeout
        idle_timeout = timeout or cfg.stream_idle_timeout
        # The JSON-RPC id and the Correlation Data are opaque random tokens (32 hex
        # digits, as uuid4().hex gave, without building a UUID: 5 % of the client's CPU).
        payload = encode_request(method, params, secrets.token_hex(16))
        topic = request_topic(agent)
        sp = dict(_DEFAULT_VERSION)
        if service_params:
            sp.update(service_params)
        call = _Call(cfg.stream_buffer)
        corrs: list[bytes] = []
        last_error: Exception = A2AClientTimeoutError(
            f"{method} to {agent}: no reply within {first_timeout:g}s")
        try:
            # One CLIENT span per call, across its attempts; never made current (this
            # generator yields to its consumer), so inject_span() is given the span.
            with tracing.client_span(method, topic) as span:
                traced = () if span is None else inject_span(span)
                for attempt in range(cfg.max_attempts):
                    if attempt:
                        if record is not None:
                            record.retry()
                        delay = self._delay(attempt - 1, last_error)
                        if delay is None:
                            raise last_error
                        await asyncio.sleep(delay)
                    corr = secrets.token_hex(16).encode()
                    self._calls[corr] = call
                    corrs.append(corr)
                    body, extra = self._seal(agent, payload)
                    props = P.request_properties(response_topic=self.reply_topic,
                                                 correlation_data=corr, service_params=sp,
                                                 message_expiry=cfg.message_expiry,
                                                 extra=extra + traced)
                    if extra:
                        props = dataclasses.replace(props, content_type="application/jose")
                    try:
                        code = await self.transport.publish(topic, body, qos=1, properties=props)
                    except PublishError as exc:
                        raise A2AClientError(f"{method} to {agent} refused by the broker: "
                                             f"{exc}") from exc
                    except TransportError as exc:
                        last_error = A2AClientError(f"{method} to {agent} not sent: {exc}")
                        continue
                    if code == _NO_MATCHING_SUBSCRIBERS:
                        # Nobody (not even a persistent session) will ever see this request.
                        last_error = ResponderUnavailableError(
                            f"{agent} is not subscribed to its request topic (offline?)")
                        continue
                    try:
                        first = await call.next(first_timeout)
                    except TimeoutError:
                        if record is not None:
                            record.timeout()
                        last_error = A2AClientTimeoutError(
                            f"{method} to {agent}: no reply within {first_timeout:g}s "
                            f"(attempt {attempt + 1} of {cfg.max_attempts})")
                        continue
                    try:
                        reply = self._decode(self._open(first, agent), unary, agent.pool)
                    except BindingError as exc:
                        if exc.retryable and attempt + 1 < cfg.max_attempts:
                            last_error = exc
                            continue
                        raise
                    yield reply
                    while not reply.end:
                        try:
                            msg = await call.next(idle_timeout)
                        except TimeoutError:
                            if record is not None:
                                record.timeout()
                            raise A2AClientTimeoutError(
                                f"{method} to {agent}: stream idle for {idle_timeout:g}s; "
                                "resume with SubscribeToTask") from None
                        reply = self._decode(self._open(msg, agent), unary, agent.pool)
                        yield reply
                    return
                raise last_error
        finally:
            for corr in corrs:
                self._calls.pop(corr, None)

    def _seal(self, agent: AgentRef, payload: bytes
              ) -> tuple[bytes, tuple[tuple[str, str], ...]]:
        """ubsp-v1: the payload encrypted to ``agent`` (fails closed without its key)."""
        e2e = self.config.e2e
        if e2e is None:
            return payload, ()
        from a2a_mqtt.security.e2e import E2EError  # noqa: PLC0415 - optional feature
        from a2a_mqtt.security.e2e_wire import seal_request  # noqa: PLC0415

        try:
            return seal_request(e2e, str(agent), payload)
        except E2EError as exc:
            raise TransportProtocolError(exc.reason) from None

    def _open(self, msg: IncomingMessage, agent: AgentRef) -> IncomingMessage:
        e2e = self.config.e2e
        if e2e is None:
            return msg
        from a2a_mqtt.security.e2e_wire import open_reply  # noqa: PLC0415 - optional feature

        return dataclasses.replace(msg, payload=open_reply(e2e, msg, str(agent)))

    async def _publish_key_card(self, transport: MqttTransport) -> None:
        """ubsp-v1: our public key, in a retained card on our own discovery topic."""
        e2e = self.config.e2e
        assert e2e is not None
        card = e2e.declare(AgentCard(
            name=f"requester {self.identity}", version="1.0.0",
            description="ubsp-v1 key metadata of a requester; it takes no requests"))
        await transport.publish(discovery_topic(self.identity), encode_card(card), qos=1,
                                retain=True, properties=PublishProperties(
                                    user_properties=P.status_properties("online", "agent")))

    @staticmethod
    def _decode(msg: IncomingMessage, unary: bool, pooled: bool) -> Reply:
        responder = msg.properties.user_property(P.RESPONDER_AGENT_ID)
        if pooled and not responder:
            # The profile: a pooled reply MUST name its responder; without it we could
            # not follow the task, so the reply is a protocol error.
            raise TransportProtocolError(
                f"pooled reply on {msg.topic} has no {P.RESPONDER_AGENT_ID} property")
        try:
            response = parse_response(msg.payload)
        except RemoteProtocolError as exc:
            raise A2AClientError(f"malformed reply on {msg.topic}: {exc}") from exc
        if response.error is not None:
            error = error_from_object(response.error)
            hint = parse_retry_after(msg.properties.user_property(RETRY_AFTER))
            if isinstance(error, ResponderUnavailableError) and hint is not None:
                raise OverloadedError(error.message, error.data, retry_after=hint)
            raise error
        marker = msg.properties.user_property(P.STREAM_END)
        end = unary or (marker == "true" if marker is not None
                        else is_final_result(response.result))
        return Reply(response.result, end, responder)
