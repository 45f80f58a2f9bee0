"""``Mqtt5Transport``: an MQTT 5 session on the asyncio loop, over the ``mqtt5`` codec.

The pieces:

* ``_connection`` opens the network connection (TCP, TLS, WebSocket) as an
  asyncio Protocol: ``TCP_NODELAY``, one write per loop turn, whole packets
  decoded from large reads by ``_framing`` (``mqtt5.read``).
* ``_flights`` keeps the outgoing QoS 1/2 publishes: packet identifiers and
  the in-flight window; ``_subscriptions`` the subscriptions and dispatch;
  ``_wire`` translates our value objects into ``mqtt5`` packets and back.
* This module owns the session: CONNECT/CONNACK, acknowledgements, keepalive,
  reconnects. Every packet is handled on the loop, synchronously, in order.

Session invariants:

* ``connected`` is true exactly between a successful CONNACK and the loss of
  that connection. Every successful CONNACK re-SUBSCRIBEs every registered
  subscription (Mosquitto 2.0.11 loses durable ``$share`` subscriptions
  otherwise) and sets the in-flight window to ``min(max_inflight, the CONNACK
  Receive Maximum)``.
* The first CONNECT uses ``clean_start`` from the options, every reconnect
  resumes (clean start false). QoS>0 publishes in flight survive a lost
  connection: they are re-sent on the next one (DUP when the broker kept the
  session, as new messages when it did not) and their callers keep waiting, up
  to ``ack_timeout``. SUBSCRIBEs are covered by the re-SUBSCRIBE instead.
* An unexpected loss starts the reconnect task (exponential backoff, jitter)
  unless we are closing. A malformed packet, a protocol violation or a missed
  PINGRESP drops the connection with a :class:`TransportError` in the log and
  counts as such a loss.
* Messages of a ``manual_ack`` subscription are acknowledged (PUBACK, or
  PUBCOMP for QoS 2) only by ``IncomingMessage.ack()``; every other QoS>0
  message right after its handlers ran. QoS 2 messages are delivered once
  PUBREL came. An ack for a message of an earlier connection is dropped: its
  packet id means nothing now, and the broker redelivers the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any, Self

import mqtt5

from a2a_mqtt._deadlines import DeadlineExpired, FutureDeadlines
from a2a_mqtt.errors import (
    ConfigError,
    ConnectError,
    NotConnectedError,
    TransportError,
    TransportTimeout,
)
from a2a_mqtt.transport import _errors
from a2a_mqtt.transport._connection import Connection, open_connection
from a2a_mqtt.transport._flights import Flight, Outbox, PacketIds
from a2a_mqtt.transport._inbound import Inbound
from a2a_mqtt.transport._subscriptions import Entry, Registry, SubackTracker
from a2a_mqtt.transport._wire import connect_packet, publish_packet, topic_filter, validate_topic
from a2a_mqtt.transport.base import (
    ConnectOptions,
    MessageHandler,
    PublishProperties,
    Subscription,
)

__all__ = ["Mqtt5Transport"]

log = logging.getLogger("a2a_mqtt.transport")

_KEEPALIVE_TICK = 1.0
_DISCONNECT_GRACE = 2.0
_PINGREQ = mqtt5.PingReqPacket().write()


class _Lost(Exception):
    """Internal: the connection dropped while an UNSUBSCRIBE awaited its ack."""


class Mqtt5Transport(Inbound):
    """The :class:`~a2a_mqtt.transport.MqttTransport` implementation.

    Args:
        options: the broker URL, identity, session and timing options. It is the
            one positional argument, like ``Server(config)``.

    ``async with Mqtt5Transport(options) as t:`` connects and disconnects; the
    object is reusable afterwards but not reentrant. Call every method (and
    ``IncomingMessage.ack``) on the event loop the transport connected on.
    Subscriptions may be declared before :meth:`connect`: they are sent with the
    first connection and :meth:`connect` returns once the broker granted them.
    They belong to this object, not to a connection: they survive reconnects and
    a :meth:`disconnect`/:meth:`connect` cycle.
    """

    def __init__(self, options: ConnectOptions) -> None:
        if not options.client_id:
            raise ConfigError("ConnectOptions.client_id must not be empty")
        self._options = options
        self._url = str(options.url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Connection | None = None
        self._open = False  # between connect() and disconnect()
        self._connected = False
        self._closing = False
        self._auto_reconnect = False
        self._generation = 0  # counts successful CONNACKs; scopes manual acks
        self._registry = Registry()
        self._subacks = SubackTracker()
        self._ids = PacketIds()
        self._outbox = Outbox(self._ids, options.max_inflight)
        self._deadlines = FutureDeadlines()  # QoS>0 publishes waiting for their ack
        self._control_ids: set[int] = set()  # SUBSCRIBE/UNSUBSCRIBE ids of this connection
        self._held: dict[int, mqtt5.PublishPacket] = {}  # QoS 2 received, PUBREL awaited
        self._callbacks: list[Callable[[bool], None]] = []
        self._connack: asyncio.Future[None] | None = None
        self._connack_user_properties: tuple[tuple[str, str], ...] = ()
        self._keepalive = options.keepalive
        self._ping_sent: float | None = None
        self._up_waiters: set[asyncio.Future[None]] = set()
        self._unsub_acks: dict[int, asyncio.Future[list[int]]] = {}
        self._reconnect_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._lost_at: float | None = None  # loop time of the last unasked-for loss
        super().__init__()

    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the loss of that connection."""
        return self._connected

    @property
    def client_id(self) -> str:
        """The MQTT client identifier."""
        return self._options.client_id

    @property
    def connack_user_properties(self) -> tuple[tuple[str, str], ...]:
        """User properties of the latest successful CONNACK (broker hints such as MCP's)."""
        return self._connack_user_properties

    @property
    def options(self) -> ConnectOptions:
        """The options this transport was created with."""
        return self._options

    @property
    def send_window(self) -> int:
        """How many QoS>0 publishes may be in flight: min(max_inflight, Receive Maximum)."""
        return self._outbox.window

    @property
    def in_flight(self) -> int:
        """QoS>0 publishes sent whose flow has not ended."""
        return len(self._outbox.inflight)

    async def connect(self) -> None:
        """Open the session; raise :class:`ConnectError` if the first attempt fails.

        Raises :class:`SubscribeError` (after closing again) if the broker refuses
        a subscription declared before connecting.
        """
        if self._open:
            raise RuntimeError("Mqtt5Transport is already connected (not reentrant)")
        loop = self._loop = asyncio.get_running_loop()
        self._open = True
        self._closing = False
        self._lost_at = None  # a new session: its first CONNACK is a connect
        self._auto_reconnect = False
        filters = [e.subscription.topic_filter for e in self._registry.entries()]
        waiters = [self._subacks.waiter(f) for f in filters]
        try:
            await self._open_connection(first=True)
            async with asyncio.timeout(self._options.ack_timeout):
                codes = await asyncio.gather(*waiters)
        except BaseException as exc:
            for topic_filter_, waiter in zip(filters, waiters, strict=True):
                self._subacks.forget(topic_filter_, waiter)
            await self.disconnect()
            if isinstance(exc, TimeoutError):
                raise TransportTimeout(f"no SUBACK from {self._url} for {filters}") from exc
            raise
        for topic_filter_, waiter in zip(filters, waiters, strict=True):
            self._subacks.forget(topic_filter_, waiter)
        refused = [(f, c) for f, c in zip(filters, codes, strict=True) if c >= _errors.FAILURE]
        if refused:
            await self.disconnect()
            raise _errors.suback_error(refused[0][1], topic_filter=refused[0][0])
        self._auto_reconnect = True
        self._keepalive_task = loop.create_task(
            self._keepalive_loop(), name=f"a2a-mqtt[{self.client_id}].keepalive"
        )

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once the session is up; :class:`TransportTimeout` after ``timeout``."""
        loop = asyncio.get_running_loop()
        await self._wait_up(None if timeout is None else loop.time() + timeout)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> int:
        """Publish; QoS 0 returns once queued, QoS 1/2 once PUBACK/PUBCOMP arrives.

        Returns the acknowledgement's reason code (0, or 0x10 "no matching
        subscribers"; 0 for QoS 0).

        While reconnecting, waits for the session first (``ack_timeout`` covers
        both). Raises :class:`PublishError` for a failure reason code (>= 0x80;
        from PUBACK, or PUBREC which ends a QoS 2 flow), :class:`TransportTimeout`
        when no ack came in time (the outcome is then unknown: a publish already
        sent is re-sent while the session lasts), :class:`ConfigError` for an
        invalid topic or property and :class:`NotConnectedError` when the
        transport is closed.
        """
        if qos not in (0, 1, 2):
            raise ConfigError(f"QoS must be 0, 1 or 2, got {qos}")
        validate_topic(topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.ack_timeout
        if not self._connected:
            await self._wait_up(deadline)
        conn = self._conn
        assert conn is not None  # connected implies a connection
        stats = self._options.stats
        if qos == 0:
            conn.send(publish_packet(topic, payload, qos=0, retain=retain,
                                     properties=properties).write())  # fmt: skip
            if stats is not None:
                stats.published_qos0()
            return 0
        if stats is not None:
            stats.publish_started()
        started = loop.time()
        acked: float | None = None
        try:
            code = await self._publish_flight(loop, conn, topic, payload, qos=qos,
                                              retain=retain, properties=properties,
                                              deadline=deadline)
            acked = loop.time() - started
        finally:
            if stats is not None:
                stats.publish_done(acked)
        if code >= _errors.FAILURE:
            raise _errors.puback_error(code, topic=topic)
        return code

    async def _publish_flight(self, loop: asyncio.AbstractEventLoop, conn: Connection,
                              topic: str, payload: bytes, *, qos: int, retain: bool,
                              properties: PublishProperties | None, deadline: float) -> int:
        """Send one QoS>0 PUBLISH and wait for the end of its flow (its reason code)."""
        future: asyncio.Future[int] = loop.create_future()
        flight = Flight(topic, payload, qos, retain, properties, future)
        if self._outbox.submit(flight):
            try:
                data = self._encode(flight, duplicate=False)
            except ConfigError:
                self._finish(flight.packet_id)
                raise
            conn.send(data)
        # One timer for every publish's deadline (see _deadlines), not one per publish.
        deadlines = self._deadlines
        deadlines.watch(future, deadline)
        try:
            code = await future
        except DeadlineExpired as exc:
            self._outbox.withdraw(flight)
            raise TransportTimeout(
                f"no PUBACK for the publish to {topic!r} within {self._options.ack_timeout} s"
            ) from exc
        except BaseException:
            self._outbox.withdraw(flight)
            raise
        finally:
            deadlines.forget(future)
        return code

    async def subscribe(self, subscription: Subscription, handler: MessageHandler) -> None:
        """Subscribe and route matching messages to ``handler``.

        Before :meth:`connect` this only declares the subscription. Otherwise it
        returns after the SUBACK (waiting for a reconnect if need be, within
        ``ack_timeout``). On :class:`SubscribeError`, timeout or cancellation the
        subscription is not kept.
        """
        entry = Entry.create(subscription, handler)
        filter_ = subscription.topic_filter
        self._registry.add(entry)
        if not self._open:
            return
        waiter = self._subacks.waiter(filter_)
        try:
            if self._connected:
                self._send_subscribe([entry])
            # else: the re-SUBSCRIBE at the next CONNACK carries it.
            async with asyncio.timeout(self._options.ack_timeout):
                code = await waiter
        except TimeoutError as exc:
            self._registry.discard(filter_, entry)
            raise TransportTimeout(f"no SUBACK for {filter_!r}") from exc
        except BaseException:
            self._registry.discard(filter_, entry)
            raise
        finally:
            self._subacks.forget(filter_, waiter)
        if code >= _errors.FAILURE:
            self._registry.discard(filter_, entry)
            raise _errors.suback_error(code, topic_filter=filter_)

    async def unsubscribe(self, topic_filter: str) -> None:
        """Stop routing ``topic_filter`` at once, then UNSUBSCRIBE if open."""
        self._registry.discard(topic_filter)
        if not self._open:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.ack_timeout
        while True:
            await self._wait_up(deadline)
            conn = self._conn
            assert conn is not None  # connected implies a connection
            pid = self._ids.take()
            self._control_ids.add(pid)
            ack: asyncio.Future[list[int]] = loop.create_future()
            self._unsub_acks[pid] = ack
            conn.send(mqtt5.UnsubscribePacket(pid, [topic_filter]).write())
            try:
                async with asyncio.timeout_at(deadline):
                    codes = await ack
            except _Lost:
                continue  # the session may still hold it: send again once back
            except TimeoutError as exc:
                raise TransportTimeout(f"no UNSUBACK for {topic_filter!r}") from exc
            finally:
                self._unsub_acks.pop(pid, None)
            if codes and codes[0] >= _errors.FAILURE:
                raise _errors.unsuback_error(codes[0], topic_filter=topic_filter)
            return

    def on_connection_change(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` after every CONNACK, ``callback(False)`` on every loss."""
        self._callbacks.append(callback)

    async def disconnect(self, *, send_will: bool = False) -> None:
        """DISCONNECT (reason 0, or 0x04 so the broker publishes the will) and close.

        Cancels the background tasks and fails every pending operation with
        :class:`NotConnectedError`. Safe to call when not connected.
        """
        if not self._open:
            return
        self._closing = True
        await _cancel(self._reconnect_task)
        self._reconnect_task = None
        conn = self._conn
        if self._connected and conn is not None:
            code = (
                mqtt5.DisconnectReasonCode.DISCONNECT_WITH_WILL_MESSAGE
                if send_will
                else mqtt5.DisconnectReasonCode.NORMAL_DISCONNECTION
            )
            conn.send(mqtt5.DisconnectPacket(reason_code=code).write())
            conn.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DISCONNECT_GRACE):
                    await asyncio.shield(conn.closed)
        self._drop(None)
        await _cancel(self._keepalive_task)
        self._keepalive_task = None
        self._open = False
        self._connected = False
        error = NotConnectedError(f"{self.client_id}: the transport was disconnected")
        pending: list[asyncio.Future[Any]] = [*self._up_waiters, *self._unsub_acks.values()]
        for fut in pending:
            if not fut.done():
                fut.set_exception(error)
        self._outbox.fail_all(error)
        self._subacks.fail(error)
        self._held.clear()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        state = "connected" if self._connected else ("open" if self._open else "closed")
        return f"<Mqtt5Transport {self.client_id!r} {self._url} {state}>"

    def fileno(self) -> int:
        """The live connection's socket descriptor, -1 when there is none. A process
        that forks closes the child's copy, so the broker sees this connection end
        (and fires its will) when this process does, not when the child does."""
        sock = self._raw_socket()
        return -1 if sock is None else int(sock.fileno())

    def _raw_socket(self) -> Any:
        """The kernel socket of the live connection (tests check its options)."""
        conn = self._conn
        return None if conn is None else conn.raw_socket()

    # -- connection management ------------------------------------------------------

    async def _open_connection(self, *, first: bool) -> None:
        """One attempt: connection, CONNECT, CONNACK, all within ``connect_timeout``."""
        loop, opts = self._loop, self._options
        assert loop is not None
        connack: asyncio.Future[None] = loop.create_future()
        self._connack = connack
        try:
            async with asyncio.timeout(opts.connect_timeout):
                conn = await open_connection(opts, on_packets=self._on_packets,
                                             on_lost=self._lost)  # fmt: skip
                self._conn = conn
                # Later reconnects resume the session (clean start false).
                clean = opts.clean_start if first else False
                conn.send(connect_packet(opts, clean_start=clean).write())
                await connack
        except TimeoutError as exc:
            self._drop(None)
            raise ConnectError(
                f"no CONNACK from {self._url} within {opts.connect_timeout} s"
            ) from exc
        except OSError as exc:
            self._drop(None)
            raise ConnectError(f"cannot connect to {self._url}: {exc}") from exc
        except BaseException:
            self._drop(None)
            raise
        finally:
            self._connack = None

    async def _reconnect_loop(self) -> None:
        opts = self._options
        attempt = 0
        while not self._closing and not self._connected:
            ceiling = min(
                opts.reconnect_max_delay, opts.reconnect_min_delay * 2 ** min(attempt, 30)
            )
            await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
            try:
                await self._open_connection(first=False)
            except ConnectError as exc:
                attempt += 1
                # Attempts 1, 10, 100, ... at WARNING: a long outage stays visible without
                # a line every few seconds; the loss and the reconnect have their own lines.
                level = logging.WARNING if _power_of_ten(attempt) else logging.DEBUG
                log.log(level, "%s: reconnect attempt %d failed: %s", self.client_id, attempt,
                        exc)  # fmt: skip
            except Exception:  # never let the reconnect task die: keep backing off
                attempt += 1
                log.exception("%s: reconnect attempt %d failed", self.client_id, attempt)

    async def _keepalive_loop(self) -> None:
        """PINGREQ when the connection was quiet for ``keepalive`` seconds; drop it
        when the PINGRESP does not come within another ``keepalive`` seconds."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(_KEEPALIVE_TICK, max(0.1, self._keepalive / 4)))
            conn = self._conn
            if conn is None or not self._connected or self._keepalive <= 0:
                continue
            now = loop.time()
            if self._ping_sent is not None:
                if now - self._ping_sent >= self._keepalive:
                    # DEBUG: the loss line below gives this reason (one line per loss).
                    log.debug("%s: no PINGRESP from %s within %d s; reconnecting",
                              self.client_id, self._url, self._keepalive)  # fmt: skip
                    self._drop(TransportError("keepalive timeout: no PINGRESP"))
            elif now - conn.last_out >= self._keepalive or now - conn.last_in >= self._keepalive:
                self._ping_sent = now
                conn.send(_PINGREQ)

    async def _wait_up(self, deadline: float | None) -> None:
        if self._connected:
            return
        if not self._open:
            raise NotConnectedError(f"{self.client_id}: the transport is not connected")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._up_waiters.add(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except TimeoutError as exc:
            raise TransportTimeout(f"{self.client_id}: not connected to {self._url}") from exc
        finally:
            self._up_waiters.discard(waiter)

    def _drop(self, error: Exception | None) -> None:
        """Abort the live connection (if any) and run the loss bookkeeping now."""
        conn = self._conn
        if conn is not None:
            conn.abort(error)  # calls _lost synchronously

    def _lost(self, conn: Connection, error: Exception | None) -> None:
        """The end of ``conn`` (once per connection; stale connections are ignored)."""
        if conn is not self._conn:
            return
        self._conn = None
        was_connected, self._connected = self._connected, False
        self._ping_sent = None
        connack = self._connack
        if connack is not None and not connack.done():
            reason = error if error is not None else "connection closed"
            connack.set_exception(
                error
                if isinstance(error, ConnectError | OSError)
                else ConnectError(f"{self._url} closed the connection before CONNACK: {reason}")
            )
        self._subacks.connection_lost()
        for pid in self._control_ids:
            self._ids.release(pid)
        self._control_ids.clear()
        for ack in self._unsub_acks.values():
            if not ack.done():
                ack.set_exception(_Lost())
        if was_connected:
            if self._closing:
                log.info("%s: disconnected from %s", self.client_id, self._url)
            else:
                reason = str(error or "closed by the broker")
                log.warning("%s: connection to %s lost: %s", self.client_id, self._url,
                            reason)  # fmt: skip
                assert self._loop is not None
                self._lost_at = self._loop.time()
                if self._options.stats is not None:
                    self._options.stats.lost(reason)
            self._notify(up=False)
        reconnecting = self._reconnect_task is not None and not self._reconnect_task.done()
        if self._auto_reconnect and not self._closing and not reconnecting:
            assert self._loop is not None
            self._reconnect_task = self._loop.create_task(
                self._reconnect_loop(), name=f"a2a-mqtt[{self.client_id}].reconnect"
            )

    # -- helpers used by Inbound --------------------------------------------------------

    def _encode(self, flight: Flight, *, duplicate: bool) -> bytes:
        return publish_packet(
            flight.topic,
            flight.payload,
            qos=flight.qos,
            retain=flight.retain,
            properties=flight.properties,
            packet_id=flight.packet_id,
            duplicate=duplicate,
        ).write()

    def _send_subscribe(self, entries: list[Entry]) -> None:
        conn = self._conn
        assert conn is not None
        pid = self._ids.take()
        self._control_ids.add(pid)
        filters = [topic_filter(e.subscription) for e in entries]
        conn.send(mqtt5.SubscribePacket(pid, filters).write())
        self._subacks.sent(pid, [e.subscription.topic_filter for e in entries])

    def _notify(self, *, up: bool) -> None:
        for callback in list(self._callbacks):
            try:
                callback(up)
            except Exception:
                log.exception("%s: connection-change callback failed", self.client_id)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1
