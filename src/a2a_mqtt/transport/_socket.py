"""Opening the broker connection without blocking the event loop.

paho's own ``connect()`` resolves, connects, and runs the TLS and WebSocket
handshakes with blocking calls. Here each step awaits instead; the finished
socket is then handed to paho (see ``_LoopClient`` in ``paho.py``), so paho never
performs I/O that could block.

Invariants: every returned socket is non-blocking and has ``TCP_NODELAY`` set
(Nagle plus delayed ACK costs 44 ms per QoS 1 round trip otherwise); on any
failure the partially opened socket is closed. IP literals are connected
directly; host names are resolved with ``loop.getaddrinfo`` (asyncio's default
resolver, which uses the loop's executor).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import os
import socket
import ssl
from typing import Any

from paho.mqtt.client import WebsocketConnectionError, _WebsocketWrapper

from a2a_mqtt.transport.base import BrokerURL, TLSConfig

__all__ = ["build_ssl_context", "open_socket", "raw_socket"]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HTTP_HEADER = 16 * 1024


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


async def open_socket(url: BrokerURL, tls: TLSConfig | None) -> Any:
    """Connect to ``url`` (TCP, then TLS and/or WebSocket as the scheme says).

    Returns a paho ``SocketLike``: a socket, an SSL socket, or a paho WebSocket
    wrapper around either. The caller bounds the time with ``asyncio.timeout``.
    """
    sock: Any = await _tcp_connect(url.host, url.port)
    try:
        if url.tls:
            sock = await _tls_handshake(sock, build_ssl_context(tls), url.host)
        if url.websockets:
            await _ws_handshake(sock, url)
            return _OpenedWebsocket(
                socket=sock,
                host=url.host,
                port=url.port,
                is_ssl=url.tls,
                path=url.path,
                extra_headers=None,
            )
    except BaseException:
        sock.close()
        raise
    return sock


def raw_socket(sock: Any) -> socket.socket | None:
    """The kernel socket under a paho ``SocketLike`` (for socket options)."""
    inner = getattr(sock, "_socket", sock)  # unwrap paho's WebSocket wrapper
    return inner if isinstance(inner, socket.socket) else None


async def _tcp_connect(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        targets: list[tuple[int, Any]] = [(family, addr) for family, _, _, _, addr in infos]
    else:
        targets = [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, (host, port))]
    last: OSError = OSError(f"no address found for {host!r}")
    for family_, addr in targets:
        sock = socket.socket(family_, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, addr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last


async def _tls_handshake(sock: socket.socket, ctx: ssl.SSLContext, host: str) -> ssl.SSLSocket:
    # wrap_socket detaches ``sock``: from here on only tls_sock owns the descriptor.
    tls_sock = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        tls_sock.setblocking(False)
        while True:
            try:
                tls_sock.do_handshake()
            except ssl.SSLWantReadError:
                await _ready(tls_sock, write=False)
            except ssl.SSLWantWriteError:
                await _ready(tls_sock, write=True)
            else:
                return tls_sock
    except BaseException:
        tls_sock.close()
        raise


async def _ws_handshake(sock: Any, url: BrokerURL) -> None:
    """HTTP Upgrade to WebSocket with the ``mqtt`` subprotocol, as paho would do it."""
    key = base64.b64encode(os.urandom(16))
    default_port = 443 if url.tls else 80
    host = url.host if url.port == default_port else f"{url.host}:{url.port}"
    request = (
        f"GET {url.path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Origin: {'https' if url.tls else 'http'}://{host}\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: mqtt\r\n\r\n"
    ).encode()
    await _send_all(sock, request)
    head = bytearray()
    # Byte by byte: nothing after the header may be consumed (the broker sends nothing
    # before our CONNECT anyway, but paho's wrapper must see every frame byte).
    while not head.endswith(b"\r\n\r\n"):
        if len(head) > _MAX_HTTP_HEADER:
            raise WebsocketConnectionError("WebSocket handshake error: header too long")
        head += await _recv_some(sock, 1)
    lines = bytes(head).decode("latin-1").split("\r\n")
    if " 101 " not in f"{lines[0]} ":
        raise WebsocketConnectionError(f"WebSocket handshake refused: {lines[0]!r}")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    expected = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()  # noqa: S324 - RFC 6455
    if headers.get("upgrade", "").lower() != "websocket":
        raise WebsocketConnectionError("WebSocket handshake error, connection not upgraded")
    if headers.get("sec-websocket-accept") != expected:
        raise WebsocketConnectionError("WebSocket handshake error, invalid secret key")


class _OpenedWebsocket(_WebsocketWrapper):
    """paho's WebSocket framing over a connection whose handshake we already did."""

    def _do_handshake(self, extra_headers: object) -> None:
        self.connected = True


async def _send_all(sock: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, ssl.SSLWantWriteError):
            await _ready(sock, write=True)
            continue
        except ssl.SSLWantReadError:
            await _ready(sock, write=False)
            continue
        view = view[sent:]


async def _recv_some(sock: Any, size: int) -> bytes:
    while True:
        try:
            data: bytes = sock.recv(size)
        except (BlockingIOError, ssl.SSLWantReadError):
            await _ready(sock, write=False)
            continue
        except ssl.SSLWantWriteError:
            await _ready(sock, write=True)
            continue
        if not data:
            raise WebsocketConnectionError("WebSocket handshake error: connection closed")
        return data


async def _ready(sock: Any, *, write: bool) -> None:
    """Wait until ``sock`` is readable (or writable)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await fut
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
