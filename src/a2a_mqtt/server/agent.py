"""AgentServer: one a2a-sdk agent on MQTT — card, presence, requests, replies.

Lifecycle (docs/binding.md §3, §4):

1. connect with Client ID ``org/unit/agent``, clean start off and a session
   expiry (persistent session), and a will that retains the card marked
   ``a2a-status=offline, a2a-status-source=lwt``;
2. subscribe to the request topic (QoS 1, manual acknowledgement) and publish
   the card retained with ``a2a-status=online``; republish it on every
   reconnect, because the will may have replaced it meanwhile;
3. serve each request in its own named task, at most ``max_concurrency`` at
   once; a request is acknowledged to the broker only once it is taken, so one
   that arrives while we stop is redelivered to our next session;
4. on stop: republish the card offline, drain requests in progress for
   ``shutdown_grace`` seconds, close the handler, DISCONNECT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType

import httpx
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import (
    BasePushNotificationSender,
    InMemoryPushNotificationConfigStore,
    TaskStore,
)
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, prepare_card
from a2a_mqtt.binding.codes import BindingErrorKind
from a2a_mqtt.binding.topics import discovery_topic, request_topic
from a2a_mqtt.errors import TransportError
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.server.dispatch import RequestDispatcher
from a2a_mqtt.server.stores import open_task_store
from a2a_mqtt.server.taskids import RequesterTaskIdBuilder
from a2a_mqtt.transport.base import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    MqttTransport,
    PublishProperties,
    Subscription,
    Will,
)

__all__ = ["AgentServer", "TransportFactory"]

log = logging.getLogger("a2a_mqtt.server")

TransportFactory = Callable[[ConnectOptions], MqttTransport]


def _default_transport(options: ConnectOptions) -> MqttTransport:
    from a2a_mqtt.transport import PahoTransport  # noqa: PLC0415 - keeps the seam lazy

    return PahoTransport(options)


class AgentServer:
    """Serves one agent; an async context manager (reusable, not reentrant)."""

    def __init__(self, config: AgentConfig, *,
                 transport_factory: TransportFactory | None = None) -> None:
        self.config = config
        self._factory = transport_factory or _default_transport
        self._stack: AsyncExitStack | None = None
        self._transport: MqttTransport | None = None
        self._dispatcher: RequestDispatcher | None = None
        self._card = AgentCard()
        self._card_payload = b""
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._accepting = False
        self._announced = False
        self.task_store: TaskStore | None = None

    @property
    def card(self) -> AgentCard:
        """The card as published (with the MQTT interface and routing extension)."""
        return self._card

    @property
    def in_flight(self) -> int:
        """Requests taken and not yet answered."""
        return self._pending

    async def __aenter__(self) -> AgentServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._stack is not None:
            raise RuntimeError("AgentServer is already running (not reentrant)")
        cfg = self.config
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            await self._start(cfg, stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def _start(self, cfg: AgentConfig, stack: AsyncExitStack) -> None:
        url = BrokerURL.parse(cfg.broker_url)
        public = cfg.public_broker_url or str(url)
        self._card = prepare_card(cfg.card, ref=cfg.ref, broker_url=public)
        extended = None
        if cfg.extended_card is not None:
            self._card.capabilities.extended_agent_card = True
            extended = prepare_card(cfg.extended_card, ref=cfg.ref, broker_url=public)
            extended.capabilities.extended_agent_card = True
        self._card_payload = encode_card(self._card)
        store = cfg.task_store or await open_task_store(cfg.task_store_url, stack)
        self.task_store = store
        push_store = push_sender = None
        if self._card.capabilities.push_notifications:
            http = httpx.AsyncClient(timeout=10.0)
            stack.push_async_callback(http.aclose)
            push_store = InMemoryPushNotificationConfigStore()
            push_sender = BasePushNotificationSender(http, push_store)
        handler = DefaultRequestHandler(
            agent_executor=cfg.executor, task_store=store, agent_card=self._card,
            push_config_store=push_store, push_sender=push_sender,
            request_context_builder=RequesterTaskIdBuilder(), extended_agent_card=extended,
            interrupted_task_timeout=cfg.interrupted_task_timeout)
        stack.push_async_callback(handler.aclose)
        will = Will(topic=discovery_topic(cfg.ref), payload=self._card_payload, qos=1,
                    retain=True, properties=PublishProperties(
                        user_properties=P.status_properties("offline", "lwt")))
        transport = self._factory(ConnectOptions(
            url=url, client_id=cfg.ref.client_id, username=cfg.username or url.username,
            password=cfg.password or url.password, tls=cfg.tls, keepalive=cfg.keepalive,
            clean_start=cfg.session_expiry == 0, session_expiry_interval=cfg.session_expiry,
            will=will))
        self._transport = transport
        self._dispatcher = RequestDispatcher(
            handler=handler, task_store=store, card=self._card, responder_id=cfg.ref.name,
            publish=self._publish_reply, max_payload_bytes=cfg.max_payload_bytes)
        self._accepting = True
        # The handler is registered before CONNECT so requests the broker queued in our
        # session while we were away are not delivered to nobody.
        await transport.subscribe(Subscription(request_topic(cfg.ref), qos=1, manual_ack=True),
                                  self._on_request)
        transport.on_connection_change(self._on_connection_change)
        await transport.connect()
        await self._publish_card("online")
        self._announced = True
        log.info("agent %s serving on %s", cfg.ref, public)

    async def stop(self) -> None:
        """Graceful stop: offline card, drain, close; safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self._accepting = False
        self._announced = False
        try:
            if self._transport is not None and self._transport.connected:
                await self._publish_card("offline")
            if self._tasks:
                _done, still = await asyncio.wait(set(self._tasks),
                                                  timeout=self.config.shutdown_grace)
                for task in still:
                    task.cancel()
                if still:
                    await asyncio.wait(still, timeout=1.0)
            await stack.aclose()
        finally:
            if self._transport is not None:
                await self._transport.disconnect()
            log.info("agent %s stopped", self.config.ref)

    async def _publish_card(self, status: str) -> None:
        assert self._transport is not None
        props = PublishProperties(user_properties=P.status_properties(status, "agent"))
        try:
            await self._transport.publish(discovery_topic(self.config.ref), self._card_payload,
                                          qos=1, retain=True, properties=props)
        except TransportError as exc:
            log.warning("could not publish %s card for %s: %s", status, self.config.ref, exc)

    def _on_connection_change(self, up: bool) -> None:
        # Reconnects only: the will may have replaced our card while we were away.
        if up and self._accepting and self._announced:
            self._spawn(self._publish_card("online"), "card")

    async def _publish_reply(self, topic: str, payload: bytes, props: PublishProperties) -> None:
        assert self._transport is not None
        await self._transport.publish(topic, payload, qos=1, properties=props)

    def _spawn(self, coro: object, what: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(
            coro,  # type: ignore[arg-type]
            name=f"a2a-mqtt[{self.config.ref}].{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_request(self, msg: IncomingMessage) -> None:
        # Runs on the loop for every request PUBLISH, in arrival order; must not block.
        if not self._accepting:
            return  # not acknowledged: the broker redelivers it to our next session
        if msg.retain:
            # Requests are never retained; a retained copy is a stale replay (Mosquitto <2.0.13).
            self._ack(msg)
            return
        self._ack(msg)
        if self._pending >= self.config.max_pending:
            assert self._dispatcher is not None
            self._spawn(self._dispatcher.reject(msg, BindingErrorKind.RESPONDER_UNAVAILABLE,
                                                "agent overloaded; retry later"), "reject")
            return
        self._pending += 1
        self._spawn(self._serve(msg, asyncio.get_running_loop().time()), "request")

    @staticmethod
    def _ack(msg: IncomingMessage) -> None:
        if msg.ack is not None:
            msg.ack()

    async def _serve(self, msg: IncomingMessage, arrived: float) -> None:
        assert self._dispatcher is not None
        try:
            async with self._semaphore:
                expiry = msg.properties.message_expiry_interval
                waited = asyncio.get_running_loop().time() - arrived
                if expiry is not None and waited > expiry:
                    await self._dispatcher.reject(msg, BindingErrorKind.REQUEST_EXPIRED,
                                                  f"request expired after waiting {waited:.1f}s")
                    return
                await self._dispatcher.handle(msg)
        finally:
            self._pending -= 1
