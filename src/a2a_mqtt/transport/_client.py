"""``LoopClient``: a paho client whose network I/O is driven by an asyncio loop.

paho offers four socket callbacks for "external event loops"; this class wires
them to the selector of an asyncio loop:

* ``on_socket_open``: ``add_reader(fd)`` calling ``loop_read()``;
* ``on_socket_register_write``: ``add_writer(fd)`` calling ``loop_write()``;
* ``on_socket_unregister_write``: ``remove_writer(fd)``;
* ``on_socket_close``: remove both, and wake :meth:`LoopClient.wait_closed`.

Keepalive needs ``loop_misc()`` about once a second; the owner runs that task.
Sockets are never opened by paho here: the owner opens them asynchronously
(``_socket.open_socket``) and hands them over with :meth:`LoopClient.use_socket`
before calling ``connect()``/``reconnect()``, so no paho call blocks.

Invariants: at most one socket is registered with the loop at a time; every
paho callback runs on the loop thread; an exception escaping paho while reading
or writing drops the socket and is reported through ``on_io_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from paho.mqtt.client import Client, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from a2a_mqtt.transport._properties import will_properties
from a2a_mqtt.transport.base import ConnectOptions

__all__ = ["LoopClient"]

log = logging.getLogger("a2a_mqtt.transport")

# Bound on extra reads per readiness event while an SSL socket reports pending bytes.
_MAX_PENDING_READS = 1000


class LoopClient(Client):
    """paho's MQTT 5 client, pumped by ``loop``; see the module docstring.

    Args:
        options: identity, credentials, will and in-flight bound.
        loop: the event loop whose selector drives the socket.
        on_io_error: called (on the loop) after an unexpected exception in paho's
            read or write path has dropped the connection.
    """

    def __init__(
        self,
        *,
        options: ConnectOptions,
        loop: asyncio.AbstractEventLoop,
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
        self._aio_prepared: Any = None
        self._aio_closed: asyncio.Future[None] | None = None
        self._aio_on_io_error = on_io_error
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
        if log.isEnabledFor(logging.DEBUG):
            self.enable_logger(logging.getLogger("a2a_mqtt.transport.paho"))

    # -- used by the transport ------------------------------------------------------

    def use_socket(self, sock: Any) -> None:
        """The already connected socket the next ``connect()``/``reconnect()`` uses."""
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

    def _create_socket(self) -> Any:
        sock, self._aio_prepared = self._aio_prepared, None
        if sock is None:
            raise ConnectionError("the transport opens connections; paho must not")
        return sock

    def _aio_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self._aio_fd = sock.fileno()
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
        if self._aio_fd is not None:
            self._aio_loop.add_writer(self._aio_fd, self._aio_writable)

    def _aio_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if self._aio_fd is not None:
            self._aio_loop.remove_writer(self._aio_fd)

    def _aio_readable(self) -> None:
        try:
            self.loop_read()
            # An SSL socket may hold decrypted bytes that the selector cannot see.
            for _ in range(_MAX_PENDING_READS):
                sock: Any = self._sock
                if sock is None or not hasattr(sock, "pending") or sock.pending() <= 0:
                    break
                self.loop_read()
        except Exception:
            log.exception("error in paho's read path; dropping the connection")
            self.drop_socket()
            self._aio_on_io_error()

    def _aio_writable(self) -> None:
        try:
            self.loop_write()
        except Exception:
            log.exception("error in paho's write path; dropping the connection")
            self.drop_socket()
            self._aio_on_io_error()
