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
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import httpx
from a2a.server.cluster import VersionedTaskStore
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import (
    BasePushNotificationSender,
    InMemoryPushNotificationConfigStore,
    TaskStore,
)
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.access.identity import worker_login
from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import parse_card, pool_of
from a2a_mqtt.binding.codes import BindingErrorKind
from a2a_mqtt.binding.topics import (
    AgentRef,
    discovery_filter,
    discovery_filters,
    discovery_topic,
    parse_discovery_topic,
    pool_subscription,
    request_topic,
    share_group,
)
from a2a_mqtt.errors import InvalidCardError, TransportError
from a2a_mqtt.mqtt_types import (
    ConnectOptions,
    IncomingMessage,
    PublishProperties,
    Subscription,
)
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.agent import AgentMetrics
from a2a_mqtt.observability.executor import traced_executor
from a2a_mqtt.observability.health import Health
from a2a_mqtt.observability.tracing import configure_tracing
from a2a_mqtt.observability.transport import TransportMetrics
from a2a_mqtt.server.brokerwatch import DropWatch
from a2a_mqtt.server.claimqueue import ClaimQueue
from a2a_mqtt.server.claims import RequestClaims, claim_key, claim_owner
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.server.dispatch import RequestDispatcher
from a2a_mqtt.server.fastpath import LeanRequestHandler
from a2a_mqtt.server.groupcommit import GroupCommitStore
from a2a_mqtt.server.inflight import DatabaseInflightLog, InflightLog, MemoryInflightLog
from a2a_mqtt.server.memstore import BoundedMemoryTaskStore
from a2a_mqtt.server.pooling import probe_shared_dollar_topics, worker_of
from a2a_mqtt.server.presence import offline_will, published_cards
from a2a_mqtt.server.stores import (
    KnownAbsentStore,
    KnownAbsentTaskStore,
    OpenedStore,
    TaskAccess,
    create_tables,
    open_task_store,
    single_process,
)
from a2a_mqtt.server.taskids import RequesterTaskIdBuilder
from a2a_mqtt.server.turnbatch import BatchedInflightLog
from a2a_mqtt.service import BaseServer
from a2a_mqtt.telemetry import warn_if_a2a_sdk_spans_on
from a2a_mqtt.transport.base import MqttTransport, TransportFactory, default_transport

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["AgentServer", "TransportFactory"]

log = logging.getLogger("a2a_mqtt.server")
_PEERS_MAX = 10_000
"""Pool peers whose presence we remember (oldest news forgotten first)."""


async def _logged(coro: Coroutine[Any, Any, None], what: str) -> None:
    """Run a background step; an exception is logged here, never left to the loop."""
    try:
        await coro
    except Exception:
        log.exception("background %s failed", what)

class AgentServer(BaseServer):
    """Serves one agent; an async context manager (reusable, not reentrant)."""

    def __init__(self, config: AgentConfig, *,
                 transport_factory: TransportFactory | None = None,
                 metrics: Metrics | None = None, health: Health | None = None) -> None:
        self.config = config
        self._metrics = AgentMetrics(metrics, agent=str(config.ref)) if metrics else None
        self._health = health
        self._factory = transport_factory or default_transport
        self._transport: MqttTransport | None = None
        self._dispatcher: RequestDispatcher | None = None
        self._card = AgentCard()
        self._card_payload = b""
        self._pool_card_payload = b""
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._accepting = False
        self._announced = False
        self._claims: RequestClaims | None = None
        self._peer_status: dict[AgentRef, str] = {}
        self._copies: ClaimQueue | None = None
        self._pool_filter = ""
        self._claim_owner = ""
        self._background: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._recovered = asyncio.Event()
        self.drops = DropWatch(label=f"agent {config.ref}")
        """Messages the broker reported dropping since we started (``$SYS``)."""
        self.pool_dispatch: str | None = None
        """How this member consumes its pool (``shared`` or ``claim``), once started."""
        self.task_store: TaskStore | VersionedTaskStore | None = None
        self.request_handler: DefaultRequestHandler | None = None
        """The a2a-sdk request handler in use, once started (lean unless ``fast_path=False``)."""

    @property
    def card(self) -> AgentCard:
        """The card as published (with the MQTT interface and routing extension)."""
        return self._card

    @property
    def in_flight(self) -> int:
        """Requests taken and not yet answered."""
        return self._pending

    async def _start(self, stack: AsyncExitStack) -> None:
        self._stopping.clear()
        self._recovered.clear()
        cfg = self.config
        # First on the stack, so last to run, also when a start fails after CONNECT
        # (recovery on a full disk, say): a session left open would be taken over.
        stack.push_async_callback(self._disconnect)
        warn_if_a2a_sdk_spans_on()
        configure_tracing(cfg.tracing)  # before the executor is (or is not) wrapped
        public = cfg.public_broker_url or cfg.connection.display_url()
        cards = published_cards(cfg)
        self._card, extended = cards.card, cards.extended
        self._card_payload, self._pool_card_payload = cards.payload, cards.pool_payload
        # Pool members (and claim/shared workers) read each other's tasks: no write-behind
        # there, and a2a-sdk's cross-replica event stream so SubscribeToTask on one member
        # follows a task running on another. A lone agent, or a partition worker (every
        # request naming a task reaches the worker that runs it), runs its tasks alone.
        shared = not cfg.runs_tasks_alone
        if cfg.task_store is not None:
            opened = OpenedStore(cfg.task_store)
        elif cfg.task_store_url in (None, "memory", "memory://"):
            opened = OpenedStore(BoundedMemoryTaskStore(max_tasks=cfg.memory_store_max_tasks,
                                                        max_bytes=cfg.memory_store_max_bytes))
        else:
            opened = await open_task_store(cfg.task_store_url, stack, write_behind=not shared)
        self.task_store = opened.store
        inflight: InflightLog = MemoryInflightLog()
        if opened.engine is not None:
            durable = DatabaseInflightLog(opened.engine)
            await create_tables(durable.initialize)
            # Claims and releases in the store's group commit, when it has one.
            inflight = (BatchedInflightLog(durable, opened.store)
                        if isinstance(opened.store, GroupCommitStore) else durable)
        push_store = push_sender = None
        if self._card.capabilities.push_notifications:
            http = httpx.AsyncClient(timeout=10.0)
            stack.push_async_callback(http.aclose)
            push_store = InMemoryPushNotificationConfigStore()
            push_sender = BasePushNotificationSender(http, push_store)
        handler_store = (KnownAbsentStore(opened.store)
                         if isinstance(opened.store, VersionedTaskStore)
                         else KnownAbsentTaskStore(opened.store))
        # The lean handler (a2a-sdk's semantics, its task turns run inline; the
        # default) or a2a-sdk's own handler (AgentConfig.fast_path=False).
        handler_class = LeanRequestHandler if cfg.fast_path else DefaultRequestHandler
        # Running its tasks alone: a2a-sdk's single-process mode streams them from memory.
        with single_process(opened.event_stream is not None and not shared):
            handler = handler_class(
                agent_executor=traced_executor(cfg.executor), task_store=handler_store,
                agent_card=self._card,
                push_config_store=push_store, push_sender=push_sender,
                request_context_builder=RequesterTaskIdBuilder(), extended_agent_card=extended,
                interrupted_task_timeout=cfg.interrupted_task_timeout,
                event_stream=opened.event_stream if shared else None)
        stack.push_async_callback(handler.aclose)
        self.request_handler = handler
        # A worker carries no will: the supervisor's session holds the agent's (presence.py).
        will = None if cfg.worker is not None else offline_will(cfg, self._card_payload)
        options = cfg.connection.connect_options(
            client_id=cfg.client_id, clean_start=cfg.session_expiry == 0,
            session_expiry=cfg.session_expiry, will=will)
        if cfg.worker is not None and options.username == cfg.ref.client_id:
            # The agent's identity login (one login, one Client ID): worker K logs in as
            # the identity's worker login ``{ref}.wK`` (same password; access/identity.py).
            options = dataclasses.replace(options,
                                          username=worker_login(options.username, cfg.worker))
        if self._metrics is not None:
            options = dataclasses.replace(options, stats=TransportMetrics(
                self._metrics.metrics, client_id=cfg.client_id))
        transport = self._factory(options)
        self._transport = transport
        self._dispatcher = RequestDispatcher(
            handler=handler, tasks=TaskAccess(opened.store), inflight=inflight,
            card=self._card, responder_id=cfg.ref.name, owner=cfg.client_id,
            publish=self._publish_reply, max_payload_bytes=cfg.max_payload_bytes,
            retry_after=cfg.overload_retry_after, authorizer=cfg.authorizer, e2e=cfg.e2e,
            metrics=self._metrics, binary=cfg.payload_encoding == "auto")
        self._claim_owner = claim_owner(cfg.client_id, self._dispatcher.run)
        self._accepting = True
        # Handlers are registered before CONNECT so requests the broker queued in our
        # session while we were away are not delivered to nobody.
        await self._subscribe_requests(cfg, opened)
        pool = cfg.pool_ref
        if pool is not None:
            await self._join_pool(pool, options, opened)
        if cfg.e2e is not None:
            # Requesters publish their ubsp-v1 keys in their cards: learn them all.
            for topic_filter in discovery_filters(None, None):
                await transport.subscribe(Subscription(topic_filter, qos=1), cfg.e2e.on_card)
        if cfg.watch_broker_drops:
            await self.drops.attach(transport)
        transport.on_connection_change(self._on_connection_change)
        await transport.connect()
        try:
            recovered = await self._dispatcher.recover(
                cfg.client_id, f"agent {cfg.ref} restarted while working on this task",
                own=True)
        finally:
            self._recovered.set()
        if recovered:
            log.warning("agent %s failed %d task(s) its previous run left unfinished",
                        cfg.ref, recovered)
        await self._publish_card("online")
        self._announced = True
        self._observe(stack)
        log.info("agent %s serving on %s", cfg.ref, public)

    async def _subscribe_requests(self, cfg: AgentConfig, opened: OpenedStore) -> None:
        """The agent's own request topic: alone, or as one of its workers."""
        assert self._transport is not None
        topic = request_topic(cfg.ref)
        if cfg.worker is None:
            handler: Callable[[IncomingMessage], None] = self._on_request
        elif cfg.worker_dispatch == "claim":
            # Workers race for each request like claiming pool members.
            await self._claim_requests(topic, opened)
            return
        elif cfg.worker_dispatch == "shared":
            topic = f"$share/{share_group(cfg.ref.org, cfg.ref.unit, cfg.ref.name)}/{topic}"
            handler = self._on_request
        else:
            handler = self._on_partition_copy
        await self._transport.subscribe(Subscription(topic, qos=1, manual_ack=True), handler)

    def _on_partition_copy(self, msg: IncomingMessage) -> None:
        """Partition dispatch: every worker has this copy; the one it hashes to serves it,
        the others acknowledge theirs at once (a worker's own copies wait in its
        persistent session while it restarts, like a lone agent's)."""
        cfg = self.config
        if worker_of(msg, cfg.worker_count, max_bytes=cfg.max_payload_bytes) != cfg.worker:
            msg.acknowledge()
            return
        self._on_request(msg)

    @property
    def ready(self) -> bool:
        """Serving: started, not stopping, connected to the broker (hence subscribed:
        the transport re-subscribes with every CONNACK)."""
        return self._accepting and self._transport is not None and self._transport.connected

    def _observe(self, stack: AsyncExitStack) -> None:
        """Readiness check and the metrics read from counters kept elsewhere."""
        name = f"agent {self.config.ref}"
        if self._health is not None:
            self._health.add(name, lambda: self.ready)
            stack.callback(self._health.remove, name)
        if self._metrics is None:
            return
        agent = str(self.config.ref)

        def drops() -> list[tuple[tuple[str, ...], float]]:
            return [((agent, "broker_dropped"), float(self.drops.dropped))]

        def claims() -> list[tuple[tuple[str, ...], float]]:
            copies = self._copies
            if copies is None:
                return []
            return [((agent, "won"), float(copies.won)), ((agent, "lost"), float(copies.lost))]

        metrics = self._metrics.metrics
        metrics.gauge(N.SERVER_BROKER_DROPS, drops)
        metrics.gauge(N.SERVER_CLAIMS, claims)
        stack.callback(metrics.forget, drops)
        stack.callback(metrics.forget, claims)

    async def _join_pool(self, pool: AgentRef, options: ConnectOptions,
                         opened: OpenedStore) -> None:
        """Subscribe to the pool's requests the way this broker supports (see pooling.py)."""
        assert self._transport is not None
        mode = self.config.pool_dispatch
        if mode == "auto":
            shared = await probe_shared_dollar_topics(options, self.config.ref, self._factory)
            mode = "shared" if shared else "claim"
        self.pool_dispatch = mode
        if mode == "shared":
            self._pool_filter = pool_subscription(pool)
            await self._transport.subscribe(Subscription(
                self._pool_filter, qos=1, manual_ack=True), self._on_request)
        else:
            self._pool_filter = request_topic(pool)
            await self._claim_requests(self._pool_filter, opened)
        # Peers' cards: a member that goes offline leaves its turns to us.
        await self._transport.subscribe(Subscription(discovery_filter(pool.org, pool.unit),
                                                     qos=1), self._on_peer_card)

    async def _claim_requests(self, topic: str, opened: OpenedStore) -> None:
        """Every member (or worker) receives each request on ``topic``; claims in the
        shared store pick the one that answers it."""
        assert self._transport is not None
        assert opened.engine is not None  # claims need a database store (config check)
        claims = RequestClaims(opened.engine)
        await create_tables(claims.initialize)
        self._claims = claims
        self._copies = ClaimQueue(claims=claims, owner=self._claim_owner,
                                  slots=self._semaphore, serve=self._serve_claimed,
                                  refuse=self._refuse_unclaimable)
        await self._transport.subscribe(Subscription(topic, qos=1, manual_ack=True),
                                        self._on_pool_copy)
        # Long-lived: kept out of the request tasks a stop drains.
        name = f"a2a-mqtt[{self.config.client_id}]"
        self._background = [
            asyncio.create_task(self._purge_claims(claims), name=f"{name}.claims-purge"),
            asyncio.create_task(self._copies.run(), name=f"{name}.claim-queue"),
        ]

    async def _purge_claims(self, claims: RequestClaims) -> None:
        while True:
            await asyncio.sleep(claims.ttl / 4)
            try:
                await claims.purge()
            except Exception:
                log.exception("purging request claims failed")

    def _on_pool_copy(self, msg: IncomingMessage) -> None:
        """A copy every member received (claim mode): queued until a slot can claim it."""
        if not self._accepting or msg.retain:
            if msg.retain:
                msg.acknowledge()
            return
        assert self._copies is not None
        if self._pending + len(self._copies) >= self.config.max_pending:
            # Every member has this copy; only the claim winner may answer, even to refuse.
            self._spawn(self._refuse_claimed(msg), "reject")
            return
        self._copies.put(msg, asyncio.get_running_loop().time())

    async def _refuse_claimed(self, msg: IncomingMessage) -> None:
        assert self._claims is not None
        try:
            key = claim_key(msg.properties.response_topic or "",
                            msg.properties.correlation_data)
            try:
                won = await self._claims.claim(key, self._claim_owner)
            except Exception:
                log.exception("claiming a pool request failed; answering it as unavailable")
                won = True  # nobody may be able to claim it: answer rather than drop
            if won:
                await self._reject(msg, "pool member overloaded; retry later")
        finally:
            msg.acknowledge()

    async def _refuse_unclaimable(self, msg: IncomingMessage) -> None:
        await self._reject(msg, "pool task store unreachable; retry later")

    async def _reject(self, msg: IncomingMessage, text: str) -> None:
        assert self._dispatcher is not None
        await self._dispatcher.reject(msg, BindingErrorKind.RESPONDER_UNAVAILABLE, text)

    async def _drain(self) -> None:
        """Graceful stop, before the stack closes: offline card, finish requests in hand."""
        self._accepting = False
        self._announced = False
        self._stopping.set()
        background, self._background = self._background, []
        for task in background:
            task.cancel()
        # Awaited before the engine is disposed: a task cancelled inside a database
        # call must return its connection first, or it is left to the GC.
        await asyncio.gather(*background, return_exceptions=True)
        if self._copies is not None:
            self._copies.release_unclaimed()
        if self._transport is not None and self._transport.connected:
            await self._leave_pool()
            await self._publish_card("offline")
        if self._tasks:
            _done, still = await asyncio.wait(set(self._tasks),
                                              timeout=self.config.shutdown_grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)

    async def _disconnect(self) -> None:
        if self._transport is not None:
            await self._transport.disconnect()
        if self._stopping.is_set():  # a stop, not a failed start
            log.info("agent %s stopped", self.config.ref)

    async def _leave_pool(self) -> None:
        if not (self.config.leave_pool_on_stop and self._pool_filter):
            return
        assert self._transport is not None
        try:
            await self._transport.unsubscribe(self._pool_filter)
        except TransportError as exc:
            log.warning("could not leave pool %s: %s", self.config.pool_ref, exc)
        else:
            log.info("agent %s left pool %s", self.config.ref, self.config.pool_ref)

    async def _publish_card(self, status: str) -> None:
        assert self._transport is not None
        if self.config.worker is not None:
            return  # the supervisor publishes the card (presence.py)
        props = PublishProperties(user_properties=P.status_properties(status, "agent"))
        targets = [(discovery_topic(self.config.ref), self._card_payload)]
        pool = self.config.pool_ref
        if pool is not None and status == "online":
            # The pool card says the pool is served; members never mark it offline,
            # since one member cannot know that it is the last (docs/binding.md §5.5).
            targets.append((discovery_topic(pool), self._pool_card_payload))
        for topic, payload in targets:
            try:
                await self._transport.publish(topic, payload, qos=1, retain=True,
                                              properties=props)
            except TransportError as exc:
                log.warning("could not publish %s card on %s: %s", status, topic, exc)

    def _on_peer_card(self, msg: IncomingMessage) -> None:
        peer = parse_discovery_topic(msg.topic)
        if peer is None or peer.pool or peer == self.config.ref or not self._accepting:
            return
        status, source = P.status_of(msg.properties)
        # Bounded: anyone allowed to publish cards in our unit could invent peers.
        self._peer_status.pop(peer, None)
        self._peer_status[peer] = status if msg.payload else "removed"
        while len(self._peer_status) > _PEERS_MAX:
            del self._peer_status[next(iter(self._peer_status))]
        if status != "offline" or not msg.payload:
            return
        try:
            card = parse_card(msg.payload, validate=False)
        except InvalidCardError:
            return
        if pool_of(card) != self.config.pool_ref:
            return
        reason = (f"pool member {peer} went offline ({source}) while working on this task")
        self._spawn(self._recover_peer(peer, reason), "recover")

    async def _recover_peer(self, peer: AgentRef, reason: str) -> None:
        """Take over an offline peer's turns, unless it returns within the grace period.

        A will also fires when the *broker* restarts; the peer is then alive and
        republishes its card online on reconnect, and must keep its work.
        """
        try:
            await asyncio.wait_for(self._stopping.wait(), self.config.peer_recovery_grace)
        except TimeoutError:
            pass
        else:
            return  # we are stopping ourselves: the peer's turns are not ours to fail
        if self._peer_status.get(peer) != "offline" or not self._accepting:
            return
        assert self._dispatcher is not None
        await self._dispatcher.recover(peer.client_id, reason)

    def _on_connection_change(self, up: bool) -> None:
        # Reconnects only: the will may have replaced our card while we were away.
        if up and self._accepting and self._announced:
            self._spawn(self._publish_card("online"), "card")

    async def _publish_reply(self, topic: str, payload: bytes, props: PublishProperties) -> None:
        assert self._transport is not None
        await self._transport.publish(topic, payload, qos=1, properties=props)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(_logged(coro, what),
                                   name=f"a2a-mqtt[{self.config.ref}].{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_request(self, msg: IncomingMessage) -> None:
        # Runs on the loop for every request PUBLISH, in arrival order; must not block.
        # The dispatcher acknowledges the message once the request is taken.
        if not self._accepting:
            return  # not acknowledged: the broker redelivers it to our next session
        if msg.retain:
            # Requests are never retained; a retained copy is a stale replay (Mosquitto <2.0.13).
            msg.acknowledge()
            return
        if self._pending >= self.config.max_pending:
            assert self._dispatcher is not None
            msg.acknowledge()
            self._spawn(self._dispatcher.reject(msg, BindingErrorKind.RESPONDER_UNAVAILABLE,
                                                "agent overloaded; retry later"), "reject")
            return
        self._pending += 1
        self._spawn(self._serve(msg, asyncio.get_running_loop().time()), "request")

    async def _serve(self, msg: IncomingMessage, arrived: float) -> None:
        try:
            async with self._semaphore:
                await self._handle(msg, arrived)
        finally:
            self._pending -= 1

    def _serve_claimed(self, msg: IncomingMessage, arrived: float) -> None:
        """Serve a pool copy we won; the claim queue hands over the slot it holds."""
        self._pending += 1

        async def serve() -> None:
            try:
                await self._handle(msg, arrived)
            finally:
                self._pending -= 1
                self._semaphore.release()

        self._spawn(serve(), "request")

    async def _handle(self, msg: IncomingMessage, arrived: float) -> None:
        assert self._dispatcher is not None
        # A request the broker redelivers from our session may belong to a turn our
        # previous run left in flight: recovery answers that turn first, so the
        # request is then answered from the store (the failed task), not as "working".
        await self._recovered.wait()
        expiry = msg.properties.message_expiry_interval
        waited = asyncio.get_running_loop().time() - arrived
        if self._metrics is not None:
            self._metrics.slot_wait(waited)
        if expiry is not None and waited > expiry:
            msg.acknowledge()
            await self._dispatcher.reject(msg, BindingErrorKind.REQUEST_EXPIRED,
                                          f"request expired after waiting {waited:.1f}s")
            return
        await self._dispatcher.handle(msg)
