"""What ``Mqtt5Transport`` does with each packet the broker sends (on the loop, in order).

A base class of :class:`~a2a_mqtt.transport.mqtt5_transport.Mqtt5Transport`
holding the packet handlers, so the session module stays readable; the state
it uses is declared below and owned by the transport.

Invariants: a packet the client must never receive (CONNECT, SUBSCRIBE, ...),
a second CONNACK or an AUTH (we announce no authentication method) is a
protocol error and drops the connection; acks for unknown packet ids are
ignored (a late ack of a flow a previous connection ended).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import mqtt5

from a2a_mqtt.errors import TransportError
from a2a_mqtt.transport import _errors
from a2a_mqtt.transport._connection import Connection
from a2a_mqtt.transport._flights import Flight, Outbox, PacketIds
from a2a_mqtt.transport._subscriptions import Entry, Registry, SubackTracker
from a2a_mqtt.transport._wire import incoming_properties
from a2a_mqtt.transport.base import ConnectOptions

__all__ = ["Inbound"]

log = logging.getLogger("a2a_mqtt.transport")


class Inbound:
    """Packet handlers; see the module docstring."""

    _options: ConnectOptions
    _url: str
    _conn: Connection | None
    _connected: bool
    _generation: int
    _registry: Registry
    _subacks: SubackTracker
    _ids: PacketIds
    _outbox: Outbox
    _control_ids: set[int]
    _held: dict[int, mqtt5.PublishPacket]
    _connack: asyncio.Future[None] | None
    _connack_user_properties: tuple[tuple[str, str], ...]
    _keepalive: int
    _ping_sent: float | None
    _up_waiters: set[asyncio.Future[None]]
    _unsub_acks: dict[int, asyncio.Future[list[int]]]
    _lost_at: float | None

    def __init__(self) -> None:
        self._dispatch: dict[type[Any], Callable[[Any], None]] = {
            mqtt5.PublishPacket: self._on_publish,
            mqtt5.PubAckPacket: self._on_puback,
            mqtt5.PubRecPacket: self._on_pubrec,
            mqtt5.PubRelPacket: self._on_pubrel,
            mqtt5.PubCompPacket: self._on_puback,
            mqtt5.SubAckPacket: self._on_suback,
            mqtt5.UnsubAckPacket: self._on_unsuback,
            mqtt5.PingRespPacket: self._on_pingresp,
            mqtt5.ConnAckPacket: self._on_connack,
            mqtt5.DisconnectPacket: self._on_disconnect,
        }

    # Provided by the transport.
    @property
    def client_id(self) -> str:
        raise NotImplementedError

    def _drop(self, error: Exception | None) -> None:
        raise NotImplementedError

    def _encode(self, flight: Flight, *, duplicate: bool) -> bytes:
        raise NotImplementedError

    def _send_subscribe(self, entries: list[Entry]) -> None:
        raise NotImplementedError

    def _notify(self, *, up: bool) -> None:
        raise NotImplementedError

    # -- dispatch -----------------------------------------------------------------------

    def _on_packets(self, packets: list[mqtt5.Packet]) -> None:
        dispatch = self._dispatch
        for packet in packets:
            handler = dispatch.get(type(packet))
            if handler is None:
                kind = type(packet).__name__  # never the packet: it may hold credentials
                self._drop(TransportError(f"protocol error: the broker sent {kind}"))
                return
            handler(packet)
            if self._conn is None:
                return  # the handler dropped the connection: the rest is void

    def _send(self, data: bytes) -> None:
        conn = self._conn
        if conn is not None:
            conn.send(data)

    # -- incoming messages ----------------------------------------------------------------

    def _on_publish(self, packet: mqtt5.PublishPacket) -> None:
        qos = int(packet.qos)
        if qos == 2:
            pid = packet.packet_id
            assert pid is not None  # the codec requires one for QoS > 0
            # Held until PUBREL; a duplicate before that only repeats the PUBREC.
            self._held.setdefault(pid, packet)
            self._send(mqtt5.PubRecPacket(pid).write())
            return
        self._deliver(packet, qos)

    def _on_pubrel(self, packet: mqtt5.PubRelPacket) -> None:
        held = self._held.pop(packet.packet_id, None)
        if held is None:  # delivered before (our PUBCOMP was lost): complete the flow
            self._send(mqtt5.PubCompPacket(packet.packet_id).write())
            return
        self._deliver(held, 2)

    def _deliver(self, packet: mqtt5.PublishPacket, qos: int) -> None:
        pid = packet.packet_id or 0
        stats = self._options.stats
        if stats is not None:
            stats.received()
        manual = self._registry.deliver(
            packet.topic,
            packet.payload,
            qos=qos,
            retain=packet.retain,
            properties=incoming_properties(packet),
            make_ack=lambda: self._acker(pid, qos),
        )
        if not manual and qos:
            self._send_ack(pid, qos)

    def _send_ack(self, pid: int, qos: int) -> None:
        if qos == 1:
            self._send(mqtt5.PubAckPacket(pid).write())
        else:
            self._send(mqtt5.PubCompPacket(pid).write())

    def _acker(self, pid: int, qos: int) -> Callable[[], None]:
        """An idempotent ack for packet ``pid`` of the current connection."""
        generation = self._generation
        acked = False

        def ack() -> None:
            nonlocal acked
            if acked:
                return
            acked = True
            if qos == 0 or not self._connected or self._generation != generation:
                return  # that packet id belonged to an earlier connection
            self._send_ack(pid, qos)

        return ack

    # -- outcomes of our publishes ----------------------------------------------------------

    def _on_puback(self, packet: mqtt5.PubAckPacket | mqtt5.PubCompPacket) -> None:
        flight = self._finish(packet.packet_id)
        if flight is not None and not flight.future.done():
            flight.future.set_result(int(packet.reason_code))

    def _on_pubrec(self, packet: mqtt5.PubRecPacket) -> None:
        pid = packet.packet_id
        code = int(packet.reason_code)
        flight = self._outbox.get(pid)
        if code >= _errors.FAILURE:
            # MQTT 5 section 4.3.3: a failure in PUBREC ends the QoS 2 flow.
            self._finish(pid)
            if flight is not None and not flight.future.done():
                flight.future.set_result(code)
            return
        if flight is not None:
            flight.released = True
        self._send(mqtt5.PubRelPacket(pid).write())

    def _finish(self, pid: int) -> Flight | None:
        """End ``pid``'s flow and send the publishes that now fit in the window."""
        flight, admitted = self._outbox.finish(pid)
        for waiting in admitted:
            self._send_flight(waiting, duplicate=False)
        return flight

    def _send_flight(self, flight: Flight, *, duplicate: bool) -> None:
        if flight.released:
            self._send(mqtt5.PubRelPacket(flight.packet_id).write())
            return
        try:
            data = self._encode(flight, duplicate=duplicate)
        except Exception as exc:
            if not flight.future.done():
                flight.future.set_exception(exc)
            self._finish(flight.packet_id)
            return
        self._send(data)

    # -- subscriptions ------------------------------------------------------------------------

    def _on_suback(self, packet: mqtt5.SubAckPacket) -> None:
        self._ids.release(packet.packet_id)
        self._control_ids.discard(packet.packet_id)
        codes = [int(c) for c in packet.reason_codes]
        for topic_filter, code, waited in self._subacks.suback(packet.packet_id, codes):
            if code >= _errors.FAILURE:
                self._registry.discard(topic_filter)
                if not waited:  # a re-SUBSCRIBE nobody awaits: the log is all we have
                    log.error(
                        "%s: %s",
                        self.client_id,
                        _errors.suback_error(code, topic_filter=topic_filter),
                    )

    def _on_unsuback(self, packet: mqtt5.UnsubAckPacket) -> None:
        self._ids.release(packet.packet_id)
        self._control_ids.discard(packet.packet_id)
        ack = self._unsub_acks.get(packet.packet_id)
        if ack is not None and not ack.done():
            ack.set_result([int(c) for c in packet.reason_codes])

    # -- connection -------------------------------------------------------------------------------

    def _on_pingresp(self, packet: mqtt5.PingRespPacket) -> None:
        self._ping_sent = None

    def _on_disconnect(self, packet: mqtt5.DisconnectPacket) -> None:
        reason = _errors.describe_reason(int(packet.reason_code))
        detail = f": {packet.reason_str}" if packet.reason_str else ""
        self._drop(TransportError(f"the broker sent DISCONNECT, {reason}{detail}"))

    def _on_connack(self, packet: mqtt5.ConnAckPacket) -> None:
        connack = self._connack
        if self._connected or connack is None:
            self._drop(TransportError("protocol error: unexpected CONNACK"))
            return
        code = int(packet.reason_code)
        if code >= _errors.FAILURE:
            if not connack.done():
                connack.set_exception(_errors.connack_error(code, url=self._url))
            self._drop(None)
            return
        opts = self._options
        if packet.server_keep_alive is not None:
            self._keepalive = packet.server_keep_alive
        else:
            self._keepalive = opts.keepalive
        self._connack_user_properties = tuple(packet.user_properties)
        window = max(1, min(opts.max_inflight, packet.receive_max))
        self._connected = True
        self._generation += 1
        session = packet.session_present
        if not session:
            self._held.clear()  # the broker forgot those QoS 2 flows
        resend, admitted = self._outbox.reconnected(window)
        for flight in resend:
            if flight.released and not session:
                # PUBREC came on the lost session: the broker owns the message.
                self._finish(flight.packet_id)
                if not flight.future.done():
                    flight.future.set_result(0)
                continue
            # The same packet id either way; DUP only where the broker may have it.
            self._send_flight(flight, duplicate=session)
        for flight in admitted:
            self._send_flight(flight, duplicate=False)
        entries = self._registry.entries()
        if entries:
            self._send_subscribe(entries)
        if not connack.done():
            connack.set_result(None)
        for waiter in self._up_waiters:
            if not waiter.done():
                waiter.set_result(None)
        # One line per connect: "reconnected ... after" when it follows a loss.
        lost_at, self._lost_at = self._lost_at, None
        away = None if lost_at is None else asyncio.get_running_loop().time() - lost_at
        if away is None:
            log.info("%s: connected to %s (session present: %s, in-flight window %d)",
                     self.client_id, self._url, session, window)  # fmt: skip
        else:
            log.info("%s: reconnected to %s after %.1f s (session present: %s, "
                     "in-flight window %d)", self.client_id, self._url, away, session,
                     window)  # fmt: skip
        if opts.stats is not None:
            opts.stats.connected(again=away is not None, away=away)
        self._notify(up=True)
