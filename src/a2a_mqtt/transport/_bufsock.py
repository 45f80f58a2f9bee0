"""``BufferedSocket``: batch paho's writes and reads into few system calls.

paho writes every packet with its own ``send()`` and reads every packet with
at least three ``recv()`` calls (type byte, length bytes, body). On loopback
with ``TCP_NODELAY`` each ``send()`` is a TCP segment and a wake-up of the
broker. This wrapper, used under paho for TCP and TLS connections:

* accepts every ``send()`` into a buffer at once, and flushes the buffer with
  one ``send()`` from a callback scheduled on the loop (``call_soon``), so all
  packets queued while the loop ran its ready callbacks leave together; if the
  kernel buffer is full, it waits for writability with its own ``add_writer``;
* reads up to 64 KiB per ``recv()`` and serves paho's small reads from memory;
  :meth:`pending` reports the buffered bytes, so the reader keeps calling
  ``loop_read()`` while they last (the selector cannot see them).

Invariants: bytes leave in the order paho wrote them; a write error is
reported once through ``on_error`` and the wrapper then refuses further use;
``close()`` makes one last non-blocking attempt to send what is buffered (so a
DISCONNECT still goes out) and never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["BufferedSocket"]

_READ_SIZE = 65536
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError)


class BufferedSocket:
    """A paho ``SocketLike`` over a non-blocking TCP or TLS socket.

    Args:
        sock: the connected, non-blocking socket (``socket`` or ``SSLSocket``).
        loop: the loop that schedules flushes.
        on_error: called once, on the loop, when a buffered write fails.
    """

    def __init__(
        self, sock: Any, *, loop: asyncio.AbstractEventLoop, on_error: Callable[[], None]
    ) -> None:
        self._socket = sock  # the name raw_socket() unwraps
        self._loop = loop
        self._on_error = on_error
        self._fd: int = sock.fileno()
        self._out = bytearray()
        self._in = b""
        self._in_pos = 0
        self._flush_scheduled = False
        self._waiting_writable = False
        self._failed = False
        # After a TLS "want write", OpenSSL needs the same bytes offered again.
        self._retry_len = 0

    # -- SocketLike -----------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Queue ``data``; it is sent (with everything else queued) later this loop turn."""
        if self._failed:
            raise BrokenPipeError("the connection failed while writing")
        self._out += data
        if not self._flush_scheduled and not self._waiting_writable:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return len(data)

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; BlockingIOError when none are available; b"" at EOF."""
        if self._in_pos >= len(self._in):
            self._in = self._socket.recv(max(size, _READ_SIZE))
            self._in_pos = 0
            if not self._in:
                return b""
        start = self._in_pos
        self._in_pos = min(start + size, len(self._in))
        return self._in[start : self._in_pos]

    def pending(self) -> int:
        """Bytes readable without the selector: our buffer plus TLS's own."""
        extra = self._socket.pending() if isinstance(self._socket, ssl.SSLSocket) else 0
        return len(self._in) - self._in_pos + extra

    def fileno(self) -> int:
        return self._fd

    def setblocking(self, flag: bool) -> None:
        if flag:
            raise ValueError("BufferedSocket is non-blocking by design")

    def close(self) -> None:
        """Try once more to send what is queued, then close; never blocks."""
        if self._waiting_writable:
            self._loop.remove_writer(self._fd)
            self._waiting_writable = False
        if self._out and not self._failed:
            with contextlib.suppress(OSError):
                self._socket.send(self._out)
        self._out.clear()
        self._failed = True
        self._socket.close()

    # -- flushing -------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._failed or not self._out:
            return
        chunk = memoryview(self._out)[: self._retry_len] if self._retry_len else self._out
        try:
            sent = self._socket.send(chunk)
        except _WOULD_BLOCK:
            sent = 0
            self._retry_len = len(chunk)
        except OSError:
            self._fail()
            return
        else:
            self._retry_len = 0
        finally:
            if isinstance(chunk, memoryview):
                chunk.release()
        del self._out[:sent]
        if self._out and not self._waiting_writable:
            self._waiting_writable = True
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        self._loop.remove_writer(self._fd)
        self._waiting_writable = False
        self._flush()

    def _fail(self) -> None:
        self._failed = True
        self._out.clear()
        self._on_error()
