"""``LoopClient``: a paho client whose network I/O is driven by an asyncio loop.

paho offers four socket callbacks for "external event loops"; this class wires
them to the loop:

* ``on_socket_open``: ``add_reader(fd)`` calling ``loop_read()`` (and again
  while bytes are buffered where the selector cannot see them);
* ``on_socket_register_write``: ``loop_write()`` at the next loop turn. TCP and
  TLS sockets are wrapped in ``_bufsock.BufferedSocket``, which accepts every
  write and flushes once per turn, so only WebSocket connections (paho's own
  wrapper) go through ``add_writer``;
* ``on_socket_unregister_write``: ``remove_writer(fd)`` (WebSocket only);
* ``on_socket_close``: remove both, and wake :meth:`LoopClient.wait_closed`.

Keepalive needs ``loop_misc()`` about once a second; the owner runs that task.
Sockets are never opened by paho here: the owner opens them asynchronously
(``_socket.open_socket``) and hands them over with :meth:`LoopClient.use_socket`
before calling ``connect()``/``reconnect()``, so no paho call blocks.

Three of paho's packet handlers are replaced, keeping their state changes and
callbacks: ``_handle_publish`` decodes with ``_codec`` and hands QoS 0 and 1
messages straight to ``on_publish_received``, without building paho
``Properties``/``MQTTMessage`` objects (QoS 2 keeps paho's PUBREC/PUBREL state
and arrives the same way once released); ``_handle_pubackcomp`` reuses cached
``ReasonCode`` objects; ``_handle_pubrec`` ends a QoS 2 flow on a failure reason
code, as MQTT 5 requires (paho would send PUBREL anyway). With ``manual_ack`` on,
paho never acks by itself: the owner acks every QoS>0 message with
``ack(mid, qos)``.

Invariants: at most one socket is registered with the loop at a time; every
paho callback runs on the loop thread; an exception escaping paho while reading
or writing drops the socket and is reported through ``on_io_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from paho.mqtt.client import Client, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion, MessageState, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from a2a_mqtt.transport._bufsock import BufferedSocket
from a2a_mqtt.transport._codec import DecodedPublish, decode_ack, decode_publish
from a2a_mqtt.transport._properties import will_properties
from a2a_mqtt.transport.base import ConnectOptions

__all__ = ["LoopClient"]

log = logging.getLogger("a2a_mqtt.transport")

# Reads of already buffered bytes per turn before yielding to other callbacks.
_MAX_PENDING_READS = 100
_DECODE_ERRORS = (ValueError, IndexError)
_FAILURE = 0x80
_ACK_TYPES = {"PUBACK": PacketTypes.PUBACK, "PUBCOMP": PacketTypes.PUBCOMP}
_reasons: dict[tuple[int, int], Any] = {}
_no_properties: dict[int, Any] = {}


def _reason(packet_type: int, code: int) -> Any:
    """A shared paho ReasonCode (they are never mutated after decoding)."""
    reason = _reasons.get((packet_type, code))
    if reason is None:
        try:
            reason = ReasonCode(packet_type, identifier=code)
        except (KeyError, ValueError) as exc:
            raise MalformedPacket(f"reason code 0x{code:02X} invalid here") from exc
        _reasons[packet_type, code] = reason
    return reason


def _empty_properties(packet_type: int) -> Any:
    props = _no_properties.get(packet_type)
    if props is None:
        props = _no_properties[packet_type] = Properties(packet_type)  # type: ignore[no-untyped-call]
    return props


class LoopClient(Client):
    """paho's MQTT 5 client, pumped by ``loop``; see the module docstring.

    Args:
        options: identity, credentials, will and in-flight bound.
        loop: the event loop whose selector drives the socket.
        on_publish_received: called for every PUBLISH received (QoS 2 once
            PUBREL arrived), in order; it must ack QoS>0 messages itself.
        on_io_error: called (on the loop) after an unexpected exception in paho's
            read or write path has dropped the connection.
    """

    def __init__(
        self,
        *,
        options: ConnectOptions,
        loop: asyncio.AbstractEventLoop,
        on_publish_received: Callable[[DecodedPublish], None],
        on_io_error: Callable[[], None],
    ) -> None:
        super().__init__(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=MQTTv5,
            manual_ack=True,  # acks are decided per subscription by the transport
        )
        self._aio_loop = loop
        self._aio_fd: int | None = None
        self._aio_buffered = False
        self._aio_write_scheduled = False
        self._aio_prepared: Any = None
        self._aio_closed: asyncio.Future[None] | None = None
        self._aio_on_io_error = on_io_error
        self._aio_received = on_publish_received
        username = options.username if options.username is not None else options.url.username
        password = options.password if options.password is not None else options.url.password
        if username is not None or password is not None:
            self.username_pw_set(username, password)
        if options.will is not None:
            will = options.will
            self.will_set(will.topic, will.payload, will.qos, will.retain, will_properties(will))
        self.max_inflight_messages_set(max(1, options.max_inflight))
        self.max_queued_messages_set(0)
        self.on_socket_open = self._aio_socket_open
        self.on_socket_close = self._aio_socket_close
        self.on_socket_register_write = self._aio_register_write
        self.on_socket_unregister_write = self._aio_unregister_write
        self.on_message = self._aio_released  # QoS 2, after PUBREL
        if log.isEnabledFor(logging.DEBUG):
            self.enable_logger(logging.getLogger("a2a_mqtt.transport.paho"))

    # -- used by the transport ------------------------------------------------------

    def use_socket(self, sock: Any) -> None:
        """The already connected socket the next ``connect()``/``reconnect()`` uses.

        TCP and TLS sockets get a :class:`BufferedSocket` (batched writes and
        reads); paho's WebSocket wrapper is used as it is.
        """
        if isinstance(sock, socket.socket):
            sock = BufferedSocket(sock, loop=self._aio_loop, on_error=self._aio_write_failed)
        self._aio_prepared = sock

    def drop_socket(self) -> None:
        """Close the socket without DISCONNECT (no-op if already closed)."""
        self._sock_close()
        if self._aio_prepared is not None:
            self._aio_prepared.close()
            self._aio_prepared = None

    async def wait_closed(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the socket to close (e.g. after DISCONNECT)."""
        if self._sock is None:
            return
        self._aio_closed = self._aio_loop.create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._aio_closed
        self._aio_closed = None

    def set_inflight_window(self, window: int) -> None:
        """Set the QoS>0 in-flight limit from inside ``on_connect``.

        paho's public setter refuses while connected. At ``on_connect`` time no
        message has been sent on the new connection yet (paho re-sends after the
        callback returns), so re-running its reconnect bookkeeping with the new
        window re-queues anything beyond it instead of exceeding the broker's
        Receive Maximum.
        """
        self._max_inflight_messages = window
        self._messages_reconnect_reset_out()

    def flush(self) -> None:
        """Write queued packets now instead of at the next selector round."""
        if self.want_write():
            self.loop_write()

    # -- paho hooks -----------------------------------------------------------------

    def _handle_publish(self) -> MQTTErrorCode:
        try:
            msg = decode_publish(self._in_packet["command"], self._in_packet["packet"])
        except _DECODE_ERRORS as exc:
            raise MalformedPacket(f"bad PUBLISH: {exc}") from exc
        if msg.qos < 2:
            self._aio_received(msg)
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        # QoS 2: paho's own bookkeeping; delivered by _handle_pubrel -> on_message.
        held: Any = MQTTMessage(mid=msg.mid, topic=msg.topic.encode())
        held.qos, held.retain, held.dup = msg.qos, msg.retain, msg.dup
        held.payload, held.properties = msg.payload, msg.properties
        held.state = MessageState.MQTT_MS_WAIT_FOR_PUBREL
        rc: MQTTErrorCode = self._send_pubrec(msg.mid)
        with self._in_message_mutex:
            self._in_messages[msg.mid] = held
        return rc

    def _handle_pubackcomp(self, cmd: str) -> MQTTErrorCode:
        packet_type = _ACK_TYPES[cmd]
        try:
            mid, code = decode_ack(self._in_packet["packet"])
        except _DECODE_ERRORS as exc:
            raise MalformedPacket(f"bad {cmd}: {exc}") from exc
        with self._out_message_mutex:
            if mid in self._out_messages:
                rc: MQTTErrorCode = self._do_on_publish(
                    mid, _reason(packet_type, code), _empty_properties(packet_type)
                )
                return rc
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pubrec(self) -> MQTTErrorCode:
        # MQTT 5 section 4.3.3: a PUBREC reason code >= 0x80 ends the QoS 2 flow and
        # frees the packet id. paho would send PUBREL anyway and report the PUBCOMP.
        try:
            mid, code = decode_ack(self._in_packet["packet"])
        except _DECODE_ERRORS as exc:
            raise MalformedPacket(f"bad PUBREC: {exc}") from exc
        if code < _FAILURE:
            rc: MQTTErrorCode = super()._handle_pubrec()
            return rc
        with self._out_message_mutex:
            if mid in self._out_messages:
                failed = _reason(PacketTypes.PUBREC, code)
                return self._do_on_publish(mid, failed, _empty_properties(PacketTypes.PUBREC))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _aio_released(self, client: Any, userdata: Any, held: Any) -> None:
        self._aio_received(
            DecodedPublish(
                topic=held.topic,
                mid=held.mid,
                qos=held.qos,
                retain=bool(held.retain),
                dup=bool(held.dup),
                properties=held.properties,
                payload=bytes(held.payload),
            )
        )

    def _create_socket(self) -> Any:
        sock, self._aio_prepared = self._aio_prepared, None
        if sock is None:
            raise ConnectionError("the transport opens connections; paho must not")
        return sock

    def _aio_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self._aio_fd = sock.fileno()
        self._aio_buffered = isinstance(sock, BufferedSocket)
        self._aio_loop.add_reader(self._aio_fd, self._aio_readable)

    def _aio_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        if self._aio_fd is not None:
            self._aio_loop.remove_reader(self._aio_fd)
            self._aio_loop.remove_writer(self._aio_fd)
            self._aio_fd = None
        closed = self._aio_closed
        if closed is not None and not closed.done():
            closed.set_result(None)

    def _aio_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if self._aio_fd is None:
            return
        if not self._aio_buffered:
            self._aio_loop.add_writer(self._aio_fd, self._aio_writable)
        elif not self._aio_write_scheduled:
            # A BufferedSocket accepts every write, so no need to ask the selector.
            self._aio_write_scheduled = True
            self._aio_loop.call_soon(self._aio_writable)

    def _aio_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if self._aio_fd is not None and not self._aio_buffered:
            self._aio_loop.remove_writer(self._aio_fd)

    def _aio_readable(self) -> None:
        try:
            self.loop_read()
            # Bytes already buffered (ours or TLS's) are invisible to the selector:
            # keep reading while they last, then yield to the loop and come back.
            for _ in range(_MAX_PENDING_READS):
                if not self._aio_pending():
                    return
                self.loop_read()
            if self._aio_pending():
                self._aio_loop.call_soon(self._aio_readable)
        except Exception:
            log.exception("error in paho's read path; dropping the connection")
            self.drop_socket()
            self._aio_on_io_error()

    def _aio_pending(self) -> bool:
        sock: Any = self._sock
        return sock is not None and hasattr(sock, "pending") and sock.pending() > 0

    def _aio_writable(self) -> None:
        self._aio_write_scheduled = False
        try:
            self.loop_write()
        except Exception:
            log.exception("error in paho's write path; dropping the connection")
            self.drop_socket()
            self._aio_on_io_error()

    def _aio_write_failed(self) -> None:
        log.warning("write to the broker failed; dropping the connection")
        self.drop_socket()
        self._aio_on_io_error()
