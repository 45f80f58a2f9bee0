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
import logging
import random
import secrets
import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from contextlib import AsyncExitStack, aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types.a2a_pb2 import AgentCard
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message as ProtoMessage

from a2a_mqtt._deadlines import FutureDeadlines
from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.card import encode_card
from a2a_mqtt.binding.codes import (
    BindingError,
    ResponderUnavailableError,
    TransportProtocolError,
)
from a2a_mqtt.binding.envelope import encode_request
from a2a_mqtt.binding.topics import (
    AgentRef,
    discovery_topic,
    reply_filter,
    reply_topic,
    request_topic,
)
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.replies import BinaryRefused, CallReplies, Reply, decode_reply
from a2a_mqtt.client.retry import (
    OverloadedError,
    backoff_delay,
    overload_delay,
)
from a2a_mqtt.errors import PublishError, TransportError
from a2a_mqtt.mqtt_types import (
    IncomingMessage,
    PublishProperties,
    Subscription,
)
from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.client import ClientMetrics
from a2a_mqtt.observability.transport import TransportMetrics
from a2a_mqtt.transport.base import MqttTransport, TransportFactory, default_transport

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["Reply", "Requester"]

log = logging.getLogger("a2a_mqtt.client")

_NO_MATCHING_SUBSCRIBERS: Final = 0x10
_DEFAULT_VERSION: Final = {"A2A-Version": "1.0"}
_MAX_RESPONDERS: Final = 100_000
_V = TypeVar("_V")
# docs/binding.md §3.4: what a request says it reads in replies, and what a binary one adds.
_ACCEPT: Final = ((P.ACCEPT, protobin.CONTENT_TYPE),)


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
        self._calls: dict[bytes, CallReplies] = {}
        self._deadlines = FutureDeadlines()  # every call's reply wait, on one timer
        self._barriers: dict[bytes, asyncio.Future[None]] = {}
        # (pool, task id) -> the member that answered last: later task operations go there.
        self._responders: collections.OrderedDict[tuple[AgentRef, str], AgentRef] = (
            collections.OrderedDict())
        # docs/binding.md §3.4: references whose replies said they read binary requests,
        # and references where a binary request met a JSON-only peer (JSON until the
        # monotonic time stored: config.binary_retry_after).
        self._binary = self.config.payload_encoding == "auto" and self.config.e2e is None
        self._reads_binary: collections.OrderedDict[AgentRef, None] = collections.OrderedDict()
        self._json_only: collections.OrderedDict[AgentRef, float] = collections.OrderedDict()
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

    def reads_binary(self, agent: AgentRef) -> bool:
        """Whether requests to ``agent`` go out as binary protobuf (docs/binding.md §3.4)."""
        return agent in self._reads_binary

    def _learn(self, agent: AgentRef, msg: IncomingMessage) -> None:
        """Note from a reply to a request that asked whether ``agent`` reads binary."""
        if not protobin.accepts(msg.properties.user_property(P.ACCEPT)):
            self._reads_binary.pop(agent, None)
        elif agent not in self._reads_binary and not self._json_only_now(agent):
            _remember(self._reads_binary, agent, None)

    def _json_only_now(self, agent: AgentRef) -> bool:
        until = self._json_only.get(agent)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._json_only[agent]
        return False

    def _refused_binary(self, agent: AgentRef, legacy: bool) -> None:
        self._reads_binary.pop(agent, None)
        if legacy:
            # A peer that reads JSON only answered (a pool member of an older version):
            # binary to this reference could meet it again, so JSON from now on.
            log.info("%s answered a binary request as unreadable: JSON for %g s", agent,
                     self.config.binary_retry_after)
            _remember(self._json_only, agent,
                      time.monotonic() + self.config.binary_retry_after)

    def _delay(self, attempt: int, error: BaseException | None) -> float | None:
        """The wait before retry ``attempt + 1``; None when ``error`` asks for longer
        than we are willing to wait (then it is raised instead)."""
        cfg = self.config
        if isinstance(error, OverloadedError):
            return overload_delay(error.retry_after, limit=cfg.max_retry_after,
                                  jitter=cfg.jitter, rand=random.random())
        return backoff_delay(cfg.backoff, attempt, cfg.jitter, random.random())

    async def call(self, agent: AgentRef, method: str, params: dict[str, Any] | ProtoMessage, *,
                   service_params: Mapping[str, str] | None = None,
                   timeout: float | None = None) -> Any:
        """One request, one result (raising the mapped error for an error reply)."""
        async with aclosing(self.stream(agent, method, params, service_params=service_params,
                                        timeout=timeout, unary=True)) as replies:
            async for reply in replies:
                return reply.result
        raise A2AClientError(f"{method}: the stream ended without a result")

    def stream(self, agent: AgentRef, method: str,
               params: dict[str, Any] | ProtoMessage, *,
               service_params: Mapping[str, str] | None = None,
               timeout: float | None = None, unary: bool = False
               ) -> AsyncGenerator[Reply, None]:
        """Every reply of one request until the stream ends, as an async generator.

        ``unary`` ends after the first reply. ``timeout`` overrides both the
        first-reply and the idle timeout. Error replies raise the a2a-sdk error
        class they map to (docs/binding.md §7). ``params`` given as the method's
        protobuf request message may travel, and be answered, as binary protobuf
        (docs/binding.md §3.4; results are then messages); as JSON they stay JSON.
        A caller that may stop reading early closes it (``contextlib.aclosing``), so
        its correlation entries go at once. It is the request's own generator, with
        no layer around it, metrics or not (issue #16, Round 4b; issue #12, session 9).
        """
        return self._stream(agent, method, params, service_params=service_params,
                            timeout=timeout, unary=unary)

    async def _stream(self, agent: AgentRef, method: str,
                      params: dict[str, Any] | ProtoMessage, *,
                      service_params: Mapping[str, str] | None, timeout: float | None,
                      unary: bool) -> AsyncGenerator[Reply, None]:
        cfg = self.config
        # The call's metrics are taken here, in the request's own generator: a metered
        # layer around it cost a generator and its aclose per call (issue #12, session 9).
        record = None if self._metrics is None else self._metrics.begin(method)
        first_timeout = timeout or cfg.reply_first_timeout
        idle_timeout = timeout or cfg.stream_idle_timeout
        # The JSON-RPC id and the Correlation Data are opaque random tokens (32 hex
        # digits, as uuid4().hex gave, without building a UUID: 5 % of the client's CPU).
        rid = secrets.token_hex(16)
        message = params if isinstance(params, ProtoMessage) else None
        # docs/binding.md §3.4: a call given a message asks for binary replies, and is
        # sent in binary once this reference said it reads it; JSON params stay JSON.
        accept = self._binary and message is not None
        binary = accept and agent in self._reads_binary
        payload = b"" if binary else encode_request(method, _json_params(params), rid)
        topic = request_topic(agent)
        sp = dict(_DEFAULT_VERSION)
        if service_params:
            sp.update(service_params)
        call = CallReplies(cfg.stream_buffer, self._deadlines)
        corrs: list[bytes] = []
        last_error: Exception = A2AClientTimeoutError(
            f"{method} to {agent}: no reply within {first_timeout:g}s")
        try:
            # One CLIENT span per call, across its attempts; never made current (this
            # generator yields to its consumer), so the span is given.
            with tracing.client_span(method, topic) as span:
                traced = () if span is None else tracing.span_properties(span)
                attempt = 0
                redo = False
                while True:
                    if redo:
                        redo = False  # a refused binary request again in JSON: at once,
                        # and not counted (it never reached a peer that could read it)
                    else:
                        if attempt == cfg.max_attempts:
                            raise last_error  # noqa: TRY301 - recorded, then re-raised
                        if attempt:
                            if record is not None:
                                record.retry()
                            delay = self._delay(attempt - 1, last_error)
                            if delay is None:
                                raise last_error  # noqa: TRY301 - recorded, re-raised
                            await asyncio.sleep(delay)
                        attempt += 1
                    corr = secrets.token_hex(16).encode()
                    self._calls[corr] = call
                    corrs.append(corr)
                    extra: tuple[tuple[str, str], ...]
                    if binary:
                        assert message is not None
                        body, extra = protobin.encode(message), ((P.METHOD, method), *_ACCEPT)
                    else:
                        body, extra = self._seal(agent, payload)
                        if accept:
                            extra += _ACCEPT
                    props = P.request_properties(response_topic=self.reply_topic,
                                                 correlation_data=corr, service_params=sp,
                                                 message_expiry=cfg.message_expiry,
                                                 extra=extra + traced, binary=binary)
                    if cfg.e2e is not None:  # ubsp-v1 (never binary, never asks for it)
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
                            f"(attempt {attempt} of {cfg.max_attempts})")
                        continue
                    if accept:
                        self._learn(agent, first)
                    try:
                        reply = decode_reply(self._open(first, agent), unary, agent.pool,
                                             method, accept=accept, binary=binary)
                    except BinaryRefused as exc:
                        self._refused_binary(agent, exc.legacy)
                        binary, redo, last_error = False, True, exc.error
                        payload = encode_request(method, _json_params(params), rid)
                        continue
                    except BindingError as exc:
                        if exc.retryable and attempt < cfg.max_attempts:
                            last_error = exc
                            continue
                        raise
                    if record is not None:
                        record.replied = True
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
                        reply = decode_reply(self._open(msg, agent), unary, agent.pool,
                                             method, accept=accept)
                        yield reply
                    if record is not None:
                        record.end(None)
                    return
        except BaseException as exc:
            # Recorded inside the clause, never kept in a local beyond it: a unary call
            # ends with the GeneratorExit of this generator's aclose(), and a kept
            # exception (exception -> traceback -> this frame -> local) is a reference
            # cycle holding the whole call until the cyclic collector runs
            # (docs/performance.md, "Observability: what metrics cost").
            if record is not None:
                record.end(exc)
            raise
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

def _json_params(params: dict[str, Any] | ProtoMessage) -> dict[str, Any]:
    return params if isinstance(params, dict) else MessageToDict(params)


def _remember(known: collections.OrderedDict[AgentRef, _V], agent: AgentRef, value: _V) -> None:
    known[agent] = value
    known.move_to_end(agent)
    while len(known) > _MAX_RESPONDERS:
        known.popitem(last=False)
