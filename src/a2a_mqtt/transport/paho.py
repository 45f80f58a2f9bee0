"""``PahoTransport``: paho-mqtt 2.x driven by the asyncio event loop, with no thread.

The pieces:

* ``_socket.open_socket`` connects (TCP, TLS, WebSocket) with awaits and sets
  ``TCP_NODELAY``; the socket is then handed to paho, which never blocks.
* ``_client.LoopClient`` maps paho's socket callbacks onto the loop's selector
  (``add_reader`` -> ``loop_read()``, ``add_writer`` -> ``loop_write()``); this
  module runs ``loop_misc()`` once a second for keepalive. So every paho
  callback below runs on the loop, synchronously, in packet order.
* ``_subscriptions`` holds the subscriptions and dispatches messages.

Session invariants:

* ``_client`` is set from :meth:`PahoTransport.connect` until
  :meth:`PahoTransport.disconnect`; a new paho client per connect, so nothing
  leaks between uses.
* ``connected`` is true exactly between a successful CONNACK and the loss of
  that connection. Every successful CONNACK re-SUBSCRIBEs every registered
  subscription (Mosquitto 2.0.11 loses durable ``$share`` subscriptions
  otherwise) and sets paho's in-flight window to ``min(max_inflight, the
  CONNACK Receive Maximum)``.
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
import logging
import random
from collections.abc import Callable
from typing import Any, Self

from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from a2a_mqtt.errors import ConfigError, ConnectError, NotConnectedError, TransportTimeout
from a2a_mqtt.transport import _errors
from a2a_mqtt.transport._client import LoopClient
from a2a_mqtt.transport._codec import DecodedPublish
from a2a_mqtt.transport._properties import connect_properties, encode_publish
from a2a_mqtt.transport._socket import open_socket, raw_socket
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: LoopClient | None = None
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
        loop = self._loop = asyncio.get_running_loop()
        self._client = self._new_client(loop)
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

        Returns the acknowledgement's reason code (0, or 0x10 "no matching
        subscribers"; 0 for QoS 0).

        While reconnecting, waits for the session first (``ack_timeout`` covers
        both). Raises :class:`PublishError` for a failure reason code (>= 0x80;
        0x10 "no matching subscribers" is a success), :class:`TransportTimeout`
        when no ack came in time (the outcome is then unknown: paho keeps
        re-sending the message while the session lasts), and
        :class:`NotConnectedError` when the transport is closed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.ack_timeout
        if not self._connected:
            await self._wait_up(deadline)
        client = self._client
        assert client is not None  # connected implies a client
        try:
            encoded: Any = encode_publish(properties)  # duck-typed paho Properties
            info = client.publish(topic, payload, qos, retain, encoded)
        except ValueError as exc:
            raise ConfigError(f"cannot publish to {topic!r}: {exc}") from exc
        error = _errors.rc_error(info.rc, action=f"publish to {topic!r}")
        if error is not None:
            raise error
        if qos == 0:
            return 0
        ack: asyncio.Future[int] = loop.create_future()
        self._pub_acks[info.mid] = ack
        client.flush()  # write now rather than at the next selector round
        try:
            async with asyncio.timeout_at(deadline):
                code = await ack
        except TimeoutError as exc:
            raise TransportTimeout(
                f"no PUBACK for the publish to {topic!r} within {self._options.ack_timeout} s"
            ) from exc
        finally:
            if self._pub_acks.get(info.mid) is ack:
                del self._pub_acks[info.mid]
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
                self._send_subscribe([entry])
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
        if self._connected:
            code = 0x04 if send_will else 0x00
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=code))
            client.flush()
            await client.wait_closed(_DISCONNECT_GRACE)
        client.drop_socket()
        await _cancel(self._misc_task)
        self._misc_task = None
        self._client = None
        self._connected = False
        error = NotConnectedError(f"{self.client_id}: the transport was disconnected")
        pending: list[asyncio.Future[Any]] = [*self._up_waiters, *self._pub_acks.values()]
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

    def _raw_socket(self) -> Any:
        """The kernel socket of the live connection (tests check its options)."""
        client = self._client
        return None if client is None else raw_socket(client.socket())

    # -- connection management ------------------------------------------------------

    def _new_client(self, loop: asyncio.AbstractEventLoop) -> LoopClient:
        client = LoopClient(
            options=self._options,
            loop=loop,
            on_publish_received=self._on_message,
            on_io_error=self._on_io_error,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        return client

    async def _open(self, *, first: bool) -> None:
        """One attempt: socket, CONNECT, CONNACK, all within ``connect_timeout``."""
        client, loop, opts = self._client, self._loop, self._options
        assert client is not None
        assert loop is not None
        connack: asyncio.Future[None] = loop.create_future()
        self._connack = connack
        try:
            async with asyncio.timeout(opts.connect_timeout):
                client.use_socket(await open_socket(opts.url, opts.tls))
                if first:
                    # Later reconnects resume the session (clean start false).
                    clean = MQTT_CLEAN_START_FIRST_ONLY if opts.clean_start else False
                    props = connect_properties(opts)
                    client.connect(
                        opts.url.host,
                        opts.url.port,
                        opts.keepalive,
                        clean_start=clean,
                        properties=props,
                    )
                else:
                    client.reconnect()
                await connack
        except TimeoutError as exc:
            client.drop_socket()
            raise ConnectError(
                f"no CONNACK from {self._url} within {opts.connect_timeout} s"
            ) from exc
        except OSError as exc:
            client.drop_socket()
            raise ConnectError(f"cannot connect to {self._url}: {exc}") from exc
        except BaseException:
            client.drop_socket()
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
            client = self._client
            if client is not None:
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

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        connack = self._connack
        code = int(reason.value)
        if code >= _errors.FAILURE:
            if connack is not None and not connack.done():
                connack.set_exception(_errors.connack_error(code, url=self._url))
            return  # paho closes the socket and calls on_disconnect next
        receive_maximum = getattr(props, "ReceiveMaximum", _DEFAULT_RECEIVE_MAXIMUM)
        user = getattr(props, "UserProperty", None)
        self._connack_user_properties = tuple((str(k), str(v)) for k, v in user or ())
        window = max(1, min(self._options.max_inflight, int(receive_maximum)))
        if window != client.max_inflight_messages:
            client.set_inflight_window(window)
        self._connected = True
        self._generation += 1
        entries = self._registry.entries()
        if entries:
            self._send_subscribe(entries)
        if connack is not None and not connack.done():
            connack.set_result(None)
        for waiter in self._up_waiters:
            if not waiter.done():
                waiter.set_result(None)
        log.info(
            "%s: connected to %s (session present: %s, in-flight window %d)",
            self.client_id,
            self._url,
            flags.session_present,
            window,
        )
        self._notify(up=True)

    def _on_disconnect(
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
            assert self._loop is not None
            self._reconnect_task = self._loop.create_task(
                self._reconnect_loop(), name=f"a2a-mqtt[{self.client_id}].reconnect"
            )

    def _on_io_error(self) -> None:
        reason = ReasonCode(PacketTypes.DISCONNECT, identifier=0x83)
        self._on_disconnect(self._client, None, None, reason)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        ack = self._pub_acks.get(mid)
        if ack is not None and not ack.done():
            ack.set_result(int(reason.value))

    def _on_subscribe(
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

    def _on_unsubscribe(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        ack = self._unsub_acks.get(mid)
        if ack is not None and not ack.done():
            ack.set_result([int(r.value) for r in reasons])

    def _on_message(self, msg: DecodedPublish) -> None:
        message = IncomingMessage(
            topic=msg.topic,
            payload=msg.payload,
            qos=msg.qos,
            retain=msg.retain,
            properties=msg.properties,
        )
        manual = self._registry.deliver(message, lambda: self._acker(msg.mid, msg.qos))
        if not manual and msg.qos > 0 and self._client is not None:
            self._client.ack(msg.mid, msg.qos)

    # -- helpers --------------------------------------------------------------------

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

    def _send_subscribe(self, entries: list[Entry]) -> None:
        client = self._client
        assert client is not None
        topics = [
            (
                e.subscription.topic_filter,
                SubscribeOptions(qos=e.subscription.qos, noLocal=e.subscription.no_local,
                                 retainAsPublished=e.subscription.retain_as_published),
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
