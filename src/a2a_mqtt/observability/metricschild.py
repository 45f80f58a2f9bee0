"""The service's end of the metrics process (:mod:`.metricsproc`): one per process.

Every :class:`~a2a_mqtt.observability.metrics.Metrics` of a process shares one
:class:`Channel` (:func:`channel`), and so one metrics process: a service with an
agent host and a requester, or a test session making hundreds of ``Metrics``,
starts one. The channel writes frames (:mod:`.metricswire`) and waits for answers;
what to write is the ``Metrics``' business.

Invariants: frames are written whole, under :attr:`Channel.lock`, which also covers a
question and its answer (so answers come back in the order asked); a write or an
answer that does not come within its timeout, or a process that ended, is a
failure: the process is killed, the channel is dead for good, and every ``Metrics``
on it is told once (:meth:`Metrics._lost`), which records in-process from then on.
A ``Metrics`` made later starts a new channel. After ``fork()`` the child process
forgets the parent's channel (its pipes closed unwritten): its ``Metrics`` record
in-process, new ones start a channel of their own.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import select
import subprocess
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Final

from a2a_mqtt.observability.childproc import start_child, stop_export_process
from a2a_mqtt.observability.metricswire import HEADER, MAX_FRAME

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["Channel", "ChildGone", "channel"]

log = logging.getLogger("a2a_mqtt.observability")

WRITE_TIMEOUT: Final = 5.0
"""Seconds a write may wait for a full pipe (the process reads it all the time)."""
ANSWER_TIMEOUT = 10.0
"""Seconds to wait for a rendered exposition or a dropped provider's last push."""
PIPE_SIZE: Final = 1 << 20
"""Bytes the pipe to the process holds (Linux's default unprivileged maximum; 64 kB
otherwise): some 130,000 queued observations."""


class ChildGone(Exception):
    """The metrics process failed: ended, stalled, or answered nonsense."""


class Channel:
    """Pipes to one metrics process (see the module invariants)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc: subprocess.Popen[bytes] | None = proc
        self.lock = threading.Lock()
        self._in = proc.stdin.fileno()
        self._out = proc.stdout.fileno()
        os.set_blocking(self._in, False)  # writes wait in select, with a deadline
        with contextlib.suppress(OSError, AttributeError):  # Linux; the default elsewhere
            # About a second of a busy service's observations, should the process lag.
            fcntl.fcntl(self._in, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._ids = 0
        self._members: weakref.WeakSet[Metrics] = weakref.WeakSet()
        self.dropped: deque[int] = deque()
        """Ids of ``Metrics`` collected since the last write (a finalizer must not take
        the lock: it may run inside a write); written ahead of the next frames."""

    @property
    def alive(self) -> bool:
        return self.proc is not None

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return None if proc is None else proc.pid

    def next_id(self) -> int:
        """A fresh id (services and histogram keys); call with the lock held."""
        self._ids += 1
        return self._ids

    def join(self, metrics: Metrics) -> None:
        self._members.add(metrics)

    # -- with the lock held ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write ``data`` whole (ChildGone: the process failed; it is gone now)."""
        if self.proc is None:
            raise ChildGone("the metrics process is gone")
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT
        try:
            while view:
                try:
                    view = view[os.write(self._in, view):]
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ChildGone(f"its pipe stayed full for {WRITE_TIMEOUT:g} s"
                                        ) from None
                    select.select([], [self._in], [], left)
        except OSError as exc:  # EPIPE: it ended
            raise ChildGone(str(exc) or type(exc).__name__) from exc

    def ask(self, data: bytes, timeout: float | None = None) -> tuple[bool, bytes]:
        """Write a question, read its answer within ``timeout`` seconds (None:
        :data:`ANSWER_TIMEOUT`): (done, body)."""
        self.write(data)
        deadline = time.monotonic() + (ANSWER_TIMEOUT if timeout is None else timeout)
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline))
        if not 1 <= size <= MAX_FRAME:
            raise ChildGone(f"an answer of {size} bytes")
        body = self._read(size, deadline)
        return body[:1] == b"0", body[1:]

    def _read(self, size: int, deadline: float) -> bytes:
        data = b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out], [], [], left)[0]:
                raise ChildGone("it did not answer in time")
            chunk = os.read(self._out, size - len(data))
            if not chunk:
                raise ChildGone("it ended")
            data += chunk
        return data

    def fail(self, exc: BaseException) -> None:
        """The process failed: kill it and tell every member, once."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        log.warning("metrics process failed (%s); metrics are recorded in this process "
                    "from now on (histogram observations it held are lost)", exc)
        stop_export_process(proc, kill=True, timeout=5.0)
        members = list(self._members)
        self._members = weakref.WeakSet()
        for metrics in members:
            metrics._lost()

    def close(self) -> None:
        """End of input: the process drops its providers and ends (not waited for long)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_export_process(proc, kill=False, timeout=ANSWER_TIMEOUT)

    def forget(self) -> None:
        """In a forked child: the pipes are the parent's; close ours, write nothing."""
        proc, self.proc = self.proc, None
        members = list(self._members)
        self._members = weakref.WeakSet()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            proc.returncode = 0  # not our child: nothing to reap or warn about
        for metrics in members:
            metrics._lost()


class _Current:
    """The process's channel (one per process; replaced when it failed)."""

    def __init__(self) -> None:
        self.channel: Channel | None = None
        self.guard = threading.Lock()


_current = _Current()


def channel() -> Channel | None:
    """The process's live channel, started if there is none (None: it cannot start)."""
    with _current.guard:
        found = _current.channel
        if found is not None and found.alive:
            return found
        proc = start_child("a2a_mqtt.observability.metricsproc", b"", what="metrics process")
        _current.channel = None if proc is None else Channel(proc)
        return _current.channel


def _at_exit() -> None:
    found = _current.channel
    if found is not None:
        found.close()


def _after_fork() -> None:
    _current.guard = threading.Lock()
    found, _current.channel = _current.channel, None
    if found is not None:
        found.lock = threading.Lock()
        found.forget()


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork)
