"""``PahoTransport``: paho-mqtt 2.x driven by the asyncio event loop, through its public API.

The pieces:

* ``_client.new_client`` configures a paho client with its public setters;
  ``_client.LoopIO`` drives its socket with paho's external-loop callbacks
  (``add_reader`` -> ``loop_read()``, writes -> ``loop_write()``) and runs
  paho's blocking ``connect()``/``reconnect()`` in a short-lived thread per
  attempt; this module runs ``loop_misc()`` once a second for keepalive. So every
  paho callback below runs on the loop, synchronously, in packet order, with no
  thread hop per message.
* ``_subscriptions`` holds the subscriptions and dispatches messages.

Session invariants:

* ``_client``/``_io`` are set from :meth:`PahoTransport.connect` until
  :meth:`PahoTransport.disconnect`; a new paho client per connect, so nothing
  leaks between uses.
* ``connected`` is true exactly between a successful CONNACK and the loss of
  that connection. Every successful CONNACK re-SUBSCRIBEs every registered
  subscription (Mosquitto 2.0.11 loses durable ``$share`` subscriptions
  otherwise) and sets the in-flight window to ``min(max_inflight, the CONNACK
  Receive Maximum)``. paho cannot change its own window on an open connection,
  so :meth:`PahoTransport.publish` enforces it: at most ``window`` QoS>0
  publishes are unacknowledged at once, the others wait for a slot.
* An unexpected loss starts the reconnect task (exponential backoff, jitter)
  unless we are closing. QoS>0 publishes in flight survive it: paho re-sends them
  on the next connection with the same packet id and their callers keep waiting,
  up to ``ack_timeout``. SUBSCRIBEs are covered by the re-SUBSCRIBE instead.
* Messages of a ``manual_ack`` subscription are PUBACKed only by
  ``IncomingMessage.ack()``; every other QoS>0 message right after its handlers
  ran. An ack for a message of an earlier connection is dropped: its packet id
  means nothing now, and the broker redelivers the message on the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any, Self

from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY, Client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from a2a_mqtt.errors import ConfigError, ConnectError, NotConnectedError, TransportTimeout
from a2a_mqtt.transport import _errors
from a2a_mqtt.transport._client import LoopIO, new_client, tcp_nodelay
from a2a_mqtt.transport._properties import connect_properties, from_paho, to_paho
from a2a_mqtt.transport._subscriptions import Entry, Registry, SubackTracker
from a2a_mqtt.transport.base import (
    ConnectOptions,
    IncomingMessage,
    MessageHandler,
    PublishProperties,
    Subscription,
)

__all__ = ["PahoTransport"]

log = logging.getLogger("a2a_mqtt.transport")

_MISC_INTERVAL = 1.0
_DISCONNECT_GRACE = 2.0
_DEFAULT_RECEIVE_MAXIMUM = 65535


class _Lost(Exception):
    """Internal: the connection dropped while an UNSUBSCRIBE awaited its ack."""


class PahoTransport:
    """The :class:`~a2a_mqtt.transport.MqttTransport` implementation on paho-mqtt.

    Args:
        options: the broker URL, identity, session and timing options. It is the
            one positional argument, like ``Server(config)``.

    ``async with PahoTransport(options) as t:`` connects and disconnects; the
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
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._io: LoopIO | None = None
        self._connected = False
        self._closing = False
        self._auto_reconnect = False
        self._generation = 0  # counts successful CONNACKs; scopes manual acks
        self._registry = Registry()
        self._subacks = SubackTracker()
        self._callbacks: list[Callable[[bool], None]] = []
        self._connack: asyncio.Future[None] | None = None
        self._connack_user_properties: tuple[tuple[str, str], ...] = ()
        self._up_waiters: set[asyncio.Future[None]] = set()
        self._pub_acks: dict[int, asyncio.Future[int]] = {}
        self._unsub_acks: dict[int, asyncio.Future[list[int]]] = {}
        self._reconnect_task: asyncio.Task[None] | None = None
        self._misc_task: asyncio.Task[None] | None = None
        # The in-flight window: QoS>0 publishes sent and not yet acknowledged.
        self._window = max(1, options.max_inflight)
        self._inflight = 0  # slots taken: sent (or being sent) and not acknowledged
        self._unacked: set[int] = set()  # packet ids holding a slot
        self._slot_waiters: deque[asyncio.Future[None]] = deque()

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

    async def connect(self) -> None:
        """Open the session; raise :class:`ConnectError` if the first attempt fails.

        Raises :class:`SubscribeError` (after closing again) if the broker refuses
        a subscription declared before connecting.
        """
        if self._client is not None:
            raise RuntimeError("PahoTransport is already connected (not reentrant)")
        loop = self._event_loop = asyncio.get_running_loop()
        self._client, self._io = self._new_client(loop)
        self._closing = False
        self._auto_reconnect = False
        filters = [e.subscription.topic_filter for e in self._registry.entries()]
        waiters = [self._subacks.waiter(f) for f in filters]
        try:
            await self._open(first=True)
            async with asyncio.timeout(self._options.ack_timeout):
                codes = await asyncio.gather(*waiters)
        except BaseException as exc:
            for topic_filter, waiter in zip(filters, waiters, strict=True):
                self._subacks.forget(topic_filter, waiter)
            await self.disconnect()
            if isinstance(exc, TimeoutError):
                raise TransportTimeout(f"no SUBACK from {self._url} for {filters}") from exc
            raise
        for topic_filter, waiter in zip(filters, waiters, strict=True):
            self._subacks.forget(topic_filter, waiter)
        refused = [(f, c) for f, c in zip(filters, codes, strict=True) if c >= _errors.FAILURE]
        if refused:
            await self.disconnect()
            raise _errors.suback_error(refused[0][1], topic_filter=refused[0][0])
        self._auto_reconnect = True
        self._misc_task = loop.create_task(
            self._misc_loop(), name=f"a2a-mqtt[{self.client_id}].misc"
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

        Known limit of QoS 2: paho 2.x ignores a failure reason code in PUBREC and
        sends PUBREL anyway, so a QoS 2 publish the broker refuses is not reported
        as refused (Mosquitto 2.0 closes the connection on that PUBREL; the
        transport reconnects). Use QoS 1 where a refusal must be seen.

        Returns the acknowledgement's reason code (0, or 0x10 "no matching
        subscribers"; 0 for QoS 0).

        While reconnecting, waits for the session first (``ack_timeout`` covers
        both). Raises :class:`PublishError` for a failure reason code (>= 0x80;
        0x10 "no matching subscribers" is a success), :class:`TransportTimeout`
        when no ack came in time (the outcome is then unknown: paho keeps
        re-sending the message while the session lasts), and
        :class:`NotConnectedError` when the transport is closed.
        """
        if qos not in (0, 1, 2):
            raise ConfigError(f"publish QoS must be 0, 1 or 2, got {qos}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.ack_timeout
        paho_props = to_paho(properties)
        if qos == 0:
            if not self._connected:
                await self._wait_up(deadline)
            self._publish_now(topic, payload, qos, retain, paho_props)
            self._flush()
            return 0
        if self._connected and self._inflight < self._window:
            self._inflight += 1  # the common case, without a coroutine
        else:
            await self._take_slot(deadline)
        try:
            mid = self._publish_now(topic, payload, qos, retain, paho_props)
        except BaseException:
            self._release_slot()
            raise
        self._unacked.add(mid)
        ack: asyncio.Future[int] = loop.create_future()
        self._pub_acks[mid] = ack
        self._flush()
        try:
            async with asyncio.timeout_at(deadline):
                code = await ack
        except TimeoutError as exc:
            raise TransportTimeout(
                f"no PUBACK for the publish to {topic!r} within {self._options.ack_timeout} s"
            ) from exc
        finally:
            if self._pub_acks.get(mid) is ack:
                del self._pub_acks[mid]
        if code >= _errors.FAILURE:
            raise _errors.puback_error(code, topic=topic)
        return code

    async def subscribe(self, subscription: Subscription, handler: MessageHandler) -> None:
        """Subscribe and route matching messages to ``handler``.

        Before :meth:`connect` this only declares the subscription. Otherwise it
        returns after the SUBACK (waiting for a reconnect if need be, within
        ``ack_timeout``). On :class:`SubscribeError`, timeout or cancellation the
        subscription is not kept.
        """
        entry = Entry.create(subscription, handler)
        topic_filter = subscription.topic_filter
        self._registry.add(entry)
        if self._client is None:
            return
        waiter = self._subacks.waiter(topic_filter)
        try:
            if self._connected:
                self._subscribe_now([entry])
            # else: the re-SUBSCRIBE at the next CONNACK carries it.
            async with asyncio.timeout(self._options.ack_timeout):
                code = await waiter
        except TimeoutError as exc:
            self._registry.discard(topic_filter, entry)
            raise TransportTimeout(f"no SUBACK for {topic_filter!r}") from exc
        except BaseException:
            self._registry.discard(topic_filter, entry)
            raise
        finally:
            self._subacks.forget(topic_filter, waiter)
        if code >= _errors.FAILURE:
            self._registry.discard(topic_filter, entry)
            raise _errors.suback_error(code, topic_filter=topic_filter)

    async def unsubscribe(self, topic_filter: str) -> None:
        """Stop routing ``topic_filter`` at once, then UNSUBSCRIBE if open."""
        self._registry.discard(topic_filter)
        if self._client is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.ack_timeout
        while True:
            await self._wait_up(deadline)
            assert self._client is not None  # connected implies a client
            rc, mid = self._client.unsubscribe(topic_filter)
            error = _errors.rc_error(rc, action=f"unsubscribe {topic_filter!r}")
            if error is not None:
                raise error
            assert mid is not None  # paho returns a packet id with success
            ack: asyncio.Future[list[int]] = loop.create_future()
            self._unsub_acks[mid] = ack
            try:
                async with asyncio.timeout_at(deadline):
                    codes = await ack
            except _Lost:
                continue  # the session may still hold it: send again once back
            except TimeoutError as exc:
                raise TransportTimeout(f"no UNSUBACK for {topic_filter!r}") from exc
            finally:
                self._unsub_acks.pop(mid, None)
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
        client = self._client
        if client is None:
            return
        self._closing = True
        await _cancel(self._reconnect_task)
        self._reconnect_task = None
        io = self._io
        assert io is not None  # set together with the client
        if self._connected:
            code = 0x04 if send_will else 0x00
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=code))
            io.flush()
            await io.wait_closed(_DISCONNECT_GRACE)
        io.drop()
        await _cancel(self._misc_task)
        self._misc_task = None
        self._client = self._io = None
        self._connected = False
        self._unacked.clear()
        self._inflight = 0
        error = NotConnectedError(f"{self.client_id}: the transport was disconnected")
        pending: list[asyncio.Future[Any]] = [
            *self._up_waiters,
            *self._pub_acks.values(),
            *self._slot_waiters,
        ]
        for fut in [*pending, *self._unsub_acks.values()]:
            if not fut.done():
                fut.set_exception(error)
        self._subacks.fail(error)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        state = "connected" if self._connected else ("open" if self._client else "closed")
        return f"<PahoTransport {self.client_id!r} {self._url} {state}>"

    def _tcp_nodelay(self) -> bool | None:
        """Whether the live connection's kernel socket has TCP_NODELAY (tests check it)."""
        sock = None if self._client is None else self._client.socket()
        return None if sock is None else tcp_nodelay(sock)

    # -- connection management ------------------------------------------------------

    def _new_client(self, loop: asyncio.AbstractEventLoop) -> tuple[Client, LoopIO]:
        client = new_client(self._options)
        io = LoopIO(
            client, loop=loop, name=f"a2a-mqtt[{self.client_id}]", on_io_error=self._io_failed
        )
        client.on_connect = self._connack_received
        client.on_disconnect = self._connection_lost
        client.on_publish = self._ack_received
        client.on_subscribe = self._suback_received
        client.on_unsubscribe = self._unsuback_received
        client.on_message = self._message_received
        return client, io

    async def _open(self, *, first: bool) -> None:
        """One attempt: socket, CONNECT, CONNACK, all within ``connect_timeout``."""
        client, io, loop, opts = self._client, self._io, self._event_loop, self._options
        assert client is not None
        assert io is not None
        assert loop is not None
        connack: asyncio.Future[None] = loop.create_future()
        self._connack = connack
        if first:
            # Later reconnects resume the session (clean start false).
            clean = MQTT_CLEAN_START_FIRST_ONLY if opts.clean_start else False
            call: Callable[[], object] = functools.partial(
                client.connect,
                opts.url.host,
                opts.url.port,
                opts.keepalive,
                clean_start=clean,
                properties=connect_properties(opts),
            )
        else:
            call = client.reconnect
        try:
            async with asyncio.timeout(opts.connect_timeout):
                await io.open(call)
                await connack
        except TimeoutError as exc:
            io.drop()
            raise ConnectError(
                f"no CONNACK from {self._url} within {opts.connect_timeout} s"
            ) from exc
        except OSError as exc:
            io.drop()
            raise ConnectError(f"cannot connect to {self._url}: {exc}") from exc
        except BaseException:
            io.drop()
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
                await self._open(first=False)
            except ConnectError as exc:
                attempt += 1
                log.warning("%s: reconnect attempt %d failed: %s", self.client_id, attempt, exc)
            except Exception:  # never let the reconnect task die: keep backing off
                attempt += 1
                log.exception("%s: reconnect attempt %d failed", self.client_id, attempt)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL)
            client, io = self._client, self._io
            if client is not None and io is not None and self._connected and not io.busy:
                try:
                    client.loop_misc()  # keepalive: PINGREQ, and drop if PINGRESP is late
                except Exception:
                    log.exception("%s: paho loop_misc failed", self.client_id)

    async def _wait_up(self, deadline: float | None) -> None:
        if self._connected:
            return
        if self._client is None:
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

    # -- paho callbacks (all on the loop, from inside loop_read/loop_write) ---------

    def _connack_received(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        connack = self._connack
        code = int(reason.value)
        if code >= _errors.FAILURE:
            if connack is not None and not connack.done():
                connack.set_exception(_errors.connack_error(code, url=self._url))
            return  # paho closes the socket and calls on_disconnect next
        receive_maximum = getattr(props, "ReceiveMaximum", _DEFAULT_RECEIVE_MAXIMUM)
        user = getattr(props, "UserProperty", None)
        self._connack_user_properties = tuple((str(k), str(v)) for k, v in user or ())
        window = self._window = max(1, min(self._options.max_inflight, int(receive_maximum)))
        self._connected = True
        self._generation += 1
        entries = self._registry.entries()
        if entries:
            self._subscribe_now(entries)
        if connack is not None and not connack.done():
            connack.set_result(None)
        for waiter in self._up_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._wake_slot_waiters(self._window - self._inflight)
        log.info(
            "%s: connected to %s (session present: %s, in-flight window %d)",
            self.client_id,
            self._url,
            flags.session_present,
            window,
        )
        self._notify(up=True)

    def _connection_lost(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any = None
    ) -> None:
        was_connected, self._connected = self._connected, False
        connack = self._connack
        if connack is not None and not connack.done():
            connack.set_exception(
                ConnectError(f"{self._url} closed the connection before CONNACK: {reason}")
            )
        self._subacks.connection_lost()
        for ack in self._unsub_acks.values():
            if not ack.done():
                ack.set_exception(_Lost())
        if was_connected:
            if self._closing:
                log.info("%s: disconnected from %s", self.client_id, self._url)
            else:
                log.warning("%s: connection to %s lost: %s", self.client_id, self._url, reason)
            self._notify(up=False)
        reconnecting = self._reconnect_task is not None and not self._reconnect_task.done()
        if self._auto_reconnect and not self._closing and not reconnecting:
            assert self._event_loop is not None
            self._reconnect_task = self._event_loop.create_task(
                self._reconnect_loop(), name=f"a2a-mqtt[{self.client_id}].reconnect"
            )

    def _io_failed(self) -> None:
        reason = ReasonCode(PacketTypes.DISCONNECT, identifier=0x83)
        self._connection_lost(self._client, None, None, reason)

    def _ack_received(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if mid in self._unacked:
            self._unacked.discard(mid)
            self._release_slot()
        ack = self._pub_acks.get(mid)
        if ack is not None and not ack.done():
            ack.set_result(int(reason.value))

    def _suback_received(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        for topic_filter, code, waited in self._subacks.suback(mid, [r.value for r in reasons]):
            if code >= _errors.FAILURE:
                self._registry.discard(topic_filter)
                if not waited:  # a re-SUBSCRIBE nobody awaits: the log is all we have
                    log.error(
                        "%s: %s",
                        self.client_id,
                        _errors.suback_error(code, topic_filter=topic_filter),
                    )

    def _unsuback_received(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        ack = self._unsub_acks.get(mid)
        if ack is not None and not ack.done():
            ack.set_result([int(r.value) for r in reasons])

    def _message_received(self, client: Any, userdata: Any, msg: Any) -> None:
        qos, mid = msg.qos, msg.mid
        message = IncomingMessage(
            topic=msg.topic,
            payload=msg.payload,
            qos=qos,
            retain=bool(msg.retain),
            properties=from_paho(msg.properties),
        )
        manual = self._registry.deliver(message, lambda: self._acker(mid, qos))
        if not manual and qos > 0 and self._client is not None:
            self._client.ack(mid, qos)

    # -- helpers --------------------------------------------------------------------

    def _publish_now(self, topic: str, payload: bytes, qos: int, retain: bool, props: Any) -> int:
        """Hand one PUBLISH to paho; its packet id. paho writes it at the next loop turn."""
        client = self._client
        assert client is not None  # connected implies a client
        try:
            info = client.publish(topic, payload, qos, retain, props)
        except ValueError as exc:
            raise ConfigError(f"cannot publish to {topic!r}: {exc}") from exc
        error = _errors.rc_error(info.rc, action=f"publish to {topic!r}")
        if error is not None:
            raise error
        return info.mid

    def _flush(self) -> None:
        """Write now rather than at the next loop turn (a publish is latency-bound)."""
        if self._io is not None:
            self._io.flush()

    async def _take_slot(self, deadline: float) -> None:
        """Wait (until ``deadline``) for the session and room in the in-flight window.

        Returns connected with a slot taken; nothing awaits between this and the
        PUBLISH, so the connection cannot drop in between.
        """
        while True:
            if not self._connected:
                await self._wait_up(deadline)
            if self._inflight < self._window:
                self._inflight += 1
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError as exc:
                raise TransportTimeout(
                    f"{self.client_id}: the in-flight window ({self._window}) stayed full"
                ) from exc
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_slot_waiters(1)  # pass on the wake-up this caller got
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()

    def _release_slot(self) -> None:
        """A slot taken by :meth:`_take_slot` is free again (acked or never sent)."""
        self._inflight -= 1
        self._wake_slot_waiters(1)

    def _wake_slot_waiters(self, count: int) -> None:
        while count > 0 and self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _acker(self, mid: int, qos: int) -> Callable[[], None]:
        """An idempotent ack for packet ``mid`` of the current connection."""
        generation = self._generation
        acked = False

        def ack() -> None:
            nonlocal acked
            if acked:
                return
            acked = True
            client = self._client
            if qos == 0 or client is None or not self._connected:
                return
            if self._generation != generation:
                return  # that packet id belonged to an earlier connection
            client.ack(mid, qos)

        return ack

    def _subscribe_now(self, entries: list[Entry]) -> None:
        client = self._client
        assert client is not None
        topics = [
            (
                e.subscription.topic_filter,
                SubscribeOptions(
                    qos=e.subscription.qos,
                    noLocal=e.subscription.no_local,
                    retainAsPublished=e.subscription.retain_as_published,
                ),
            )
            for e in entries
        ]
        rc, mid = client.subscribe(topics)
        error = _errors.rc_error(rc, action="subscribe")
        if error is not None:
            raise error
        assert mid is not None  # paho returns a packet id with success
        self._subacks.sent(mid, [t for t, _ in topics])

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
