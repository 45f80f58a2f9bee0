"""One network connection to the broker: an asyncio Protocol carrying MQTT packets.

``open_connection`` connects with the loop's own machinery (resolution, TCP,
TLS from our :class:`TLSConfig`) and, for ``ws://``/``wss://`` URLs, runs the
WebSocket handshake with the ``websockets`` library's sans-I/O client
(``websockets.client.ClientProtocol``): MQTT bytes travel in binary frames.

Invariants:

* ``TCP_NODELAY`` is set on every connection (Nagle plus delayed ACK costs
  44 ms per QoS 1 round trip otherwise).
* Writes are gathered and handed to the transport once per loop turn
  (``call_soon``), so a burst of packets (a reply and its PUBACK, a window of
  publishes) costs one ``send()``; reads are as large as the loop makes them,
  and every complete packet in them is decoded before the owner runs.
* The owner hears about the end of the connection exactly once, through
  ``on_lost(connection, error)``, whatever ended it: the peer, a malformed
  packet (a :class:`MalformedPacket`), a WebSocket protocol error, or
  :meth:`Connection.abort`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

import mqtt5
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from a2a_mqtt.errors import ConnectError, TransportError
from a2a_mqtt.transport._framing import Framer, MalformedPacket
from a2a_mqtt.transport.base import ConnectOptions, TLSConfig

__all__ = ["Connection", "build_ssl_context", "open_connection"]

log = logging.getLogger("a2a_mqtt.transport")

PacketHandler = Callable[[list[mqtt5.Packet]], None]
LostHandler = Callable[["Connection", Exception | None], None]


def build_ssl_context(tls: TLSConfig | None) -> ssl.SSLContext:
    """An SSL context from our TLS options (system trust store by default)."""
    if tls is not None and tls.context is not None:
        return tls.context
    ctx = ssl.create_default_context(cafile=tls.ca_file if tls else None)
    if tls is not None:
        if tls.cert_file is not None:
            ctx.load_cert_chain(tls.cert_file, tls.key_file, password=tls.key_password)
        if tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def open_connection(
    options: ConnectOptions, *, on_packets: PacketHandler, on_lost: LostHandler
) -> Connection:
    """Connect to ``options.url``; return once MQTT packets can be sent.

    Raises ``OSError`` (including TLS failures) or :class:`ConnectError` (a
    refused WebSocket upgrade); the caller bounds the time.
    """
    url = options.url
    loop = asyncio.get_running_loop()
    ctx = build_ssl_context(options.tls) if url.tls else None
    websocket = _WebSocket(str(url)) if url.websockets else None
    conn = Connection(loop=loop, on_packets=on_packets, on_lost=on_lost, websocket=websocket)
    await loop.create_connection(
        lambda: conn, url.host, url.port, ssl=ctx, server_hostname=url.host if ctx else None
    )
    try:
        await conn.ready
    except BaseException:
        conn.abort(None)
        raise
    return conn


class _WebSocket:
    """The client side of RFC 6455 around the MQTT byte stream (``mqtt`` subprotocol)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.protocol = ClientProtocol(
            parse_uri(uri), subprotocols=[Subprotocol("mqtt")], max_size=None
        )
        self.protocol.send_request(self.protocol.connect())
        self.open = False

    def receive(self, data: bytes) -> list[bytes]:
        """Feed received bytes; return the MQTT bytes they carried (in order)."""
        self.protocol.receive_data(data)
        out: list[bytes] = []
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    raise ConnectError(
                        f"WebSocket handshake with {self.uri} failed: {self.protocol.handshake_exc}"
                    )
                self.open = True
            elif isinstance(event, Frame) and event.opcode in (Opcode.BINARY, Opcode.CONT):
                out.append(bytes(event.data))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                raise TransportError("the broker sent a WebSocket text frame; MQTT is binary")
        return out

    def frame(self, data: bytes) -> None:
        self.protocol.send_binary(data)

    def output(self) -> list[bytes]:
        return self.protocol.data_to_send()


class Connection(asyncio.Protocol):
    """The MQTT byte stream over one transport; see the module docstring."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        on_packets: PacketHandler,
        on_lost: LostHandler,
        websocket: _WebSocket | None = None,
    ) -> None:
        self._loop = loop
        self._on_packets = on_packets
        self._on_lost = on_lost
        self._ws = websocket
        self._framer = Framer()
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._error: Exception | None = None
        self._ended = False
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_out = self.last_in = loop.time()

    # -- used by the owner ------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue ``data``; it is written with everything else queued this loop turn."""
        if self._transport is None or self._ended:
            return  # the connection is gone; the owner resends what the session needs
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def close(self) -> None:
        """Write what is queued, then close (the peer sees a clean end)."""
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def abort(self, error: Exception | None) -> None:
        """Drop the connection at once; ``error`` is what ``on_lost`` reports."""
        if self._error is None:
            self._error = error
        if self._transport is not None:
            self._transport.abort()
        self._end()

    def raw_socket(self) -> Any:
        """The kernel socket (or the loop's socket-like view of it), for socket options."""
        return None if self._transport is None else self._transport.get_extra_info("socket")

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast("asyncio.Transport", transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ws is None:
            self.ready.set_result(None)
        else:
            transport.write(b"".join(self._ws.output()))

    def data_received(self, data: bytes) -> None:
        self.last_in = self._loop.time()
        try:
            if self._ws is None:
                packets = self._framer.feed(data)
            else:
                chunks = self._ws.receive(data)
                if not self.ready.done() and self._ws.open:
                    self.ready.set_result(None)
                self._write_ws_control()
                packets = [p for chunk in chunks for p in self._framer.feed(chunk)]
        except (MalformedPacket, ConnectError, TransportError) as exc:
            self.abort(exc)
            return
        except (ProtocolError, InvalidHandshake) as exc:
            self.abort(TransportError(f"WebSocket error: {exc}"))
            return
        if not packets:
            return
        try:
            self._on_packets(packets)
        except Exception as exc:  # a bug must cost the connection, never the loop
            log.exception("error while handling packets from the broker")
            self.abort(TransportError(f"error while handling packets: {exc!r}"))

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._error is None and exc is not None:
            self._error = exc
        self._end()

    # -- internals ------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, transport = self._out, self._transport
        if not out or transport is None or self._ended:
            return
        self._out = []
        data = out[0] if len(out) == 1 else b"".join(out)
        if self._ws is not None:
            self._ws.frame(data)
            data = b"".join(self._ws.output())
        transport.write(data)
        self.last_out = self._loop.time()

    def _write_ws_control(self) -> None:
        """Send what the WebSocket protocol owes the peer (pongs, a close reply)."""
        assert self._ws is not None
        pending = self._ws.output()
        if pending and self._transport is not None:
            data = b"".join(pending)
            if data:
                self._transport.write(data)
            if pending[-1] == b"":  # the protocol asks us to end the stream
                self._transport.close()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        error = self._error
        if not self.ready.done():
            self.ready.set_exception(
                error if error is not None else ConnectionError("connection closed")
            )
            self.ready.exception()  # retrieved: the opener reports it
        if not self.closed.done():
            self.closed.set_result(None)
        self._on_lost(self, error)
