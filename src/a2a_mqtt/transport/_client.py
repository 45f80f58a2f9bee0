"""A paho client configured from our options, and its network I/O driven by asyncio.

Everything here uses paho's public API only (``tests/unit/transport/
test_paho_public_api.py`` enforces it):

* :func:`new_client` builds a ``paho.mqtt.client.Client`` with the public
  setters: MQTT 5, callback API 2, ``manual_ack``, credentials, will, TLS
  (``tls_set_context``/``tls_insecure_set``), WebSockets (``ws_set_options``),
  the in-flight bound, an unlimited paho queue and ``connect_timeout``.
* :class:`LoopIO` drives it with paho's "external event loop" API, as aiomqtt
  does: ``on_socket_open`` -> ``add_reader(fd)`` calling ``loop_read()``;
  ``on_socket_register_write`` -> ``loop_write()`` at the next loop turn (then
  ``add_writer`` while paho still has bytes queued); ``on_socket_unregister_write``
  -> ``remove_writer``; ``on_socket_close`` -> remove both. So every paho callback
  runs on the loop, synchronously, in packet order: no thread hop per message.
* paho writes each packet with its own ``send()`` (batching them under
  ``TCP_CORK`` was measured and did not pay: see docs/performance.md). A
  publish is written at once (:meth:`LoopIO.flush`), acknowledgements queued
  inside paho's callbacks at the next loop turn.
* paho's ``connect()``/``reconnect()`` resolve, connect and run the TLS and
  WebSocket handshakes with blocking calls (each bounded by ``connect_timeout``),
  and paho has no public way to hand it a socket opened elsewhere. So
  :meth:`LoopIO.open` runs that one call in a short-lived thread of its own
  (named ``a2a-mqtt[<client id>].connect``, ended when the call returns) and
  attaches the socket to the loop only afterwards, on the loop.

Invariants: at most one socket is attached to the loop at a time; while an
opening thread runs, the loop side never calls into the client (``busy``) and the
thread never touches the loop (callbacks from it only see that nothing is
attached); ``TCP_NODELAY`` is set on every socket paho opens, before CONNECT is
written; an exception escaping paho while reading or writing drops the socket
and is reported through ``on_io_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from paho.mqtt.client import Client, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from a2a_mqtt.transport._properties import will_properties
from a2a_mqtt.transport._tls import build_ssl_context
from a2a_mqtt.transport.base import ConnectOptions

__all__ = ["LoopIO", "new_client", "set_tcp_nodelay", "tcp_nodelay"]

log = logging.getLogger("a2a_mqtt.transport")

# Reads of already buffered bytes (TLS, WebSocket) per turn before yielding.
_MAX_PENDING_READS = 100


def new_client(options: ConnectOptions) -> Client:
    """An unconnected paho MQTT 5 client set up from ``options`` (public setters only)."""
    url = options.url
    client = Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=MQTTv5,
        transport="websockets" if url.websockets else "tcp",
        manual_ack=True,  # acks are decided per subscription by the transport
    )
    username = options.username if options.username is not None else url.username
    password = options.password if options.password is not None else url.password
    if username is not None or password is not None:
        client.username_pw_set(username, password)
    if options.will is not None:
        will = options.will
        client.will_set(will.topic, will.payload, will.qos, will.retain, will_properties(will))
    if url.tls:
        context = build_ssl_context(options.tls)
        client.tls_set_context(context)
        # paho checks the host name itself unless told the context decides.
        client.tls_insecure_set(not context.check_hostname)
    if url.websockets:
        client.ws_set_options(path=url.path)
    client.max_inflight_messages_set(max(1, min(65535, options.max_inflight)))
    client.max_queued_messages_set(0)  # unlimited: the transport bounds what it sends
    client.connect_timeout = options.connect_timeout
    if log.isEnabledFor(logging.DEBUG):
        client.enable_logger(logging.getLogger("a2a_mqtt.transport.paho"))
    return client


def set_tcp_nodelay(sock: Any) -> None:
    """Set ``TCP_NODELAY`` on the kernel socket under a paho ``SocketLike``.

    Works through a duplicate of the descriptor, so it needs nothing from the
    wrapper (TLS socket, paho's WebSocket wrapper) but ``fileno()``. Without it
    Nagle plus delayed ACK stall every QoS 1 round trip by ~44 ms.
    """
    with socket.socket(fileno=os.dup(sock.fileno())) as dup:
        if dup.family in (socket.AF_INET, socket.AF_INET6):
            dup.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tcp_nodelay(sock: Any) -> bool:
    """Whether ``TCP_NODELAY`` is set on the kernel socket under ``sock``."""
    with socket.socket(fileno=os.dup(sock.fileno())) as dup:
        return bool(dup.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def _close_abandoned_sockets(exc: BaseException) -> None:
    """Close the sockets a failed ``connect()`` left open in its frames.

    paho does not close the socket when a TLS or WebSocket handshake fails; it
    would linger until the garbage collector finds it (a ResourceWarning). Any
    socket still referenced by a frame of the traceback belongs to that attempt.
    """
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


class _Attempt:
    """One ``connect()``/``reconnect()`` running in its thread."""

    __slots__ = ("abandoned", "done", "error")

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.error: BaseException | None = None
        self.abandoned = False


class LoopIO:
    """Pumps one paho client's socket from ``loop``; see the module docstring.

    Args:
        client: the paho client (from :func:`new_client`); its four socket
            callbacks are taken over.
        loop: the event loop whose selector drives the socket.
        name: the prefix of the opening thread's name.
        on_io_error: called on the loop after an unexpected exception in paho's
            read or write path has dropped the connection.
    """

    def __init__(
        self,
        client: Client,
        *,
        loop: asyncio.AbstractEventLoop,
        name: str,
        on_io_error: Callable[[], None],
    ) -> None:
        self.client = client
        self.loop = loop
        self.name = name
        self.on_io_error = on_io_error
        self.attached: Any = None  # the socket registered with the loop
        self.fd = -1
        self.writer = False  # add_writer is registered
        self.write_scheduled = False
        self.attempt: _Attempt | None = None  # an opening thread is running
        self.closed_waiter: asyncio.Future[None] | None = None
        client.on_socket_open = self.socket_opened
        client.on_socket_close = self.socket_closed
        client.on_socket_register_write = self.register_write
        client.on_socket_unregister_write = self.unregister_write

    @property
    def busy(self) -> bool:
        """An opening thread is using the client: the loop must not call into it."""
        return self.attempt is not None

    async def open(self, call: Callable[[], object]) -> None:
        """Run ``call`` (paho's ``connect``/``reconnect``) in a thread, then attach its socket.

        Raises what ``call`` raised. If cancelled, the thread still finishes
        (paho bounds it by ``connect_timeout``) and its socket is closed unused;
        a later :meth:`open` first waits for it.
        """
        previous = self.attempt
        if previous is not None:
            await asyncio.shield(previous.done)
        self.drop()
        attempt = self.attempt = _Attempt(self.loop.create_future())
        thread = threading.Thread(
            target=self._run, args=(call, attempt), name=f"{self.name}.connect", daemon=True
        )
        thread.start()
        try:
            await asyncio.shield(attempt.done)
        except asyncio.CancelledError:
            attempt.abandoned = True
            raise
        thread.join()  # it has returned already: only its last instruction was left
        if attempt.error is not None:
            raise attempt.error
        self.attach()

    def drop(self) -> None:
        """Close the socket without DISCONNECT (no-op if closed or while opening)."""
        if self.busy:
            return
        self.detach()
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def flush(self) -> None:
        """Write what paho has queued now instead of at the next loop turn."""
        if self.attached is not None and self.client.want_write():
            self.write()

    async def wait_closed(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the attached socket to close."""
        if self.attached is None:
            return
        self.closed_waiter = self.loop.create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.closed_waiter
        self.closed_waiter = None

    # -- the opening thread -----------------------------------------------------------

    def _run(self, call: Callable[[], object], attempt: _Attempt) -> None:
        error: BaseException | None = None
        try:
            call()
        except BaseException as exc:  # handed to the loop, re-raised there
            _close_abandoned_sockets(exc)
            error = exc
        try:
            self.loop.call_soon_threadsafe(self._finished, attempt, error)
        except RuntimeError:  # the loop is closed: nobody will use this socket
            sock = self.client.socket()
            if sock is not None:
                sock.close()

    def _finished(self, attempt: _Attempt, error: BaseException | None) -> None:
        attempt.error = error
        self.attempt = None
        if attempt.abandoned:
            self.drop()
        attempt.done.set_result(None)

    # -- paho's socket callbacks ------------------------------------------------------

    def socket_opened(self, client: Any, userdata: Any, sock: Any) -> None:
        # In the opening thread: only the socket itself is touched here.
        set_tcp_nodelay(sock)

    def socket_closed(self, client: Any, userdata: Any, sock: Any) -> None:
        # From the opening thread only for a socket already detached: a no-op then.
        if sock is not self.attached:
            return
        self.detach()
        waiter = self.closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if sock is self.attached and not self.write_scheduled:
            self.write_scheduled = True
            self.loop.call_soon(self.write)

    def unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if self.writer and sock is self.attached:
            self.loop.remove_writer(self.fd)
            self.writer = False

    # -- the loop side ----------------------------------------------------------------

    def attach(self) -> None:
        """Register paho's freshly opened socket with the loop and write its CONNECT."""
        sock = self.client.socket()
        if sock is None:
            return
        self.attached = sock
        self.fd = sock.fileno()
        self.loop.add_reader(self.fd, self.readable)
        self.flush()

    def detach(self) -> None:
        if self.attached is None:
            return
        self.loop.remove_reader(self.fd)
        if self.writer:
            self.loop.remove_writer(self.fd)
        self.attached, self.fd, self.writer = None, -1, False

    def readable(self) -> None:
        try:
            self.client.loop_read()
            # Bytes already decrypted or unframed (TLS, WebSocket) are invisible to
            # the selector: keep reading while they last, then yield and come back.
            for _ in range(_MAX_PENDING_READS):
                if not self._pending():
                    return
                self.client.loop_read()
            if self._pending():
                self.loop.call_soon(self.readable)
        except Exception:
            log.exception("error in paho's read path; dropping the connection")
            self.drop()
            self.on_io_error()

    def write(self) -> None:
        self.write_scheduled = False
        if self.attached is None:
            return
        try:
            self.client.loop_write()
        except Exception:
            log.exception("error in paho's write path; dropping the connection")
            self.drop()
            self.on_io_error()
            return
        if self.attached is not None and not self.writer and self.client.want_write():
            # The kernel buffer is full: wait for the selector.
            self.writer = True
            self.loop.add_writer(self.fd, self.write)

    def _pending(self) -> bool:
        sock = self.attached
        if sock is None:
            return False
        pending = getattr(sock, "pending", None)
        return pending is not None and int(pending()) > 0
