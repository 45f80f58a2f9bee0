"""A span processor that streams each finished span to the export process (:mod:`.exportproc`).

It takes the place of the SDK's ``BatchSpanProcessor`` in the service process (and
takes our own :class:`~.leanspan.LeanSpan`\\ s' rows, :meth:`~ProcessSpanProcessor.on_end_row`,
sent as ``("l", rows)`` messages); the
batch processor itself (queue, batches, schedule, drop policy, ``OTEL_BSP_*``) and
the official ``OTLPSpanExporter`` run in the export process. ``on_end`` turns the
span into a tuple of plain values at once (:mod:`.spanwire`, a few µs) and keeps only
that; every ``_FLUSH_AT`` spans (and every ``_FLUSH_INTERVAL`` seconds, from a
timer thread) they are pickled together, one message, and go into the pipe with one
non-blocking write (one pickle per span cost this process and the export process a
call, a frame and a memo each: docs/performance.md, session 8).

Why not the batch processor here (measured, docs/performance.md "Tracing: what it
costs", session 7): it keeps every finished span object (about 13 objects the
garbage collector tracks, per span) until its batch leaves, long enough to reach
the oldest generation, so full collections came twice as often; and its thread
held the GIL the event loop needs while it converted each batch.

Invariants: the event loop never waits for the export process (a full pipe keeps
the bytes not yet written, up to ``_MAX_PENDING``; beyond it new spans are dropped
and counted in :attr:`ProcessSpanProcessor.dropped`); a message is never split
between two processes; a resource or scope reaches every process before the first
span that names it. Failure rules: a process that died, or took nothing from the
pipe for the exporter's timeout + 5 s, is killed and a new one started (at most one
attempt every ``_RESPAWN_AFTER`` seconds after a start failed; spans meanwhile are
dropped and counted);
if no process can be started at all when tracing starts, the SDK's
``BatchSpanProcessor`` with the official exporter runs here instead. After
``fork()`` the child drops the parent's pipes (without writing to them) and starts
its own process on its first flush.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import threading
import time
import weakref
from collections import deque
from itertools import islice
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from a2a_mqtt.observability.childproc import (
    exporter_timeout,
    inline_processor,
    read_byte,
    start_export_process,
    stop_export_process,
)
from a2a_mqtt.observability.exportproc import OK
from a2a_mqtt.observability.logs import Tenfold
from a2a_mqtt.observability.spanwire import (
    frame,
    load_lean_span,
    resource_row,
    scope_row,
    span_row,
)

__all__ = ["ProcessSpanProcessor"]

log = logging.getLogger("a2a_mqtt.observability")

_FLUSH_AT: Final = 64
"""Spans buffered before a write: about 20 requests' worth, a few KB (256 did worse)."""
_FLUSH_INTERVAL: Final = 0.5
"""Seconds between the timer's writes of what is buffered (traffic that stopped)."""
_MAX_PENDING: Final = 1 << 20
"""Bytes kept while the pipe is full (some 8,000 spans) before new spans are dropped."""
_RESPAWN_AFTER: Final = 5.0
"""Seconds between two attempts to start the process after one failed."""
_ANSWER_SLACK: Final = 5.0
"""Seconds beyond the exporter's own timeout (its retries included) to wait for it."""
_FLUSH_MARKER: Final = frame(("f",))


class ProcessSpanProcessor(SpanProcessor):
    """Stream sampled spans to a child process running ``BatchSpanProcessor(
    OTLPSpanExporter(endpoint=...))``."""

    def __init__(self, *, endpoint: str) -> None:
        # Headers, certificates, compression, timeouts and batching come from the
        # OTEL_* variables, which the process inherits and the SDK reads there.
        self._settings: dict[str, Any] = {"endpoint": endpoint}
        self._stall_limit = exporter_timeout() + _ANSWER_SLACK
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._pid = os.getpid()
        self._next_spawn = 0.0
        self._closed = False
        self._drops = Tenfold()
        self._rows: list[tuple[Any, ...]] = []  # ended SDK spans, not pickled yet
        self._lean: list[tuple[Any, ...]] = []  # ended lean spans' rows, not pickled yet
        # The resource and scope of the last span and their indices (every span of one
        # provider has the same: one identity check a span instead of two lookups).
        self._last: tuple[object, object, int, int] | None = None
        self._marker = False  # a flush request to write behind the buffer
        # Bytes the pipe did not take yet, in the order written (chunks, so a full pipe
        # never makes a flush copy everything that waits), and their total size.
        self._pending: deque[bytes] = deque()
        self._pending_size = 0
        self._stalled_since: float | None = None
        # Resources and scopes by identity (the objects are kept, so ids stay theirs);
        # their definition messages, of which the current process has the first
        # ``_defs_sent``.
        self._known: dict[int, tuple[object, int]] = {}
        self._defs: list[bytes] = []
        self._limits: SpanLimits | None = None  # for lean rows exported in-process
        self._defs_sent = 0
        self._inline: SpanProcessor | None = None
        self._wake = threading.Event()
        if not self._spawn():
            self._inline = inline_processor(self._settings)
        self._start_timer()
        ref = weakref.ref(self)

        def after_fork() -> None:
            processor = ref()
            if processor is not None:
                processor._forget()

        os.register_at_fork(after_in_child=after_fork)

    @property
    def pid(self) -> int | None:
        """The export process's pid (None: none running)."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    @property
    def dropped(self) -> int:
        """Spans lost: the pipe was full, or no export process was there to take them."""
        return self._drops.count

    @property
    def pending_bytes(self) -> int:
        """Bytes written for the export process that its pipe has not taken yet."""
        return self._pending_size

    # -- the hot path (the event loop's thread, once per ended span) ----------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None or not ctx.trace_flags.sampled or self._closed:
            return
        if self._inline is not None:
            self._inline.on_end(span)
            return
        if self._pending_size > _MAX_PENDING:  # the pipe is full: no work for a lost span
            with self._lock:
                self._drop(1, "the span export pipe is full")
            return
        resource, scope = span.resource, span.instrumentation_scope
        with self._lock:
            last = self._last
            if last is not None and last[0] is resource and last[1] is scope:
                ri, si = last[2], last[3]
            else:
                ri = self._index(resource, "r")
                si = self._index(scope, "c")
                self._last = (resource, scope, ri, si)
            rows = self._rows
            rows.append(span_row(span, ri, si))
            if len(rows) + len(self._lean) >= _FLUSH_AT:
                self._flush()

    def register(self, resource: Resource, scope: InstrumentationScope | None
                 ) -> tuple[int, int]:
        """The indices :meth:`on_end_row`'s rows name ``resource`` and ``scope`` by."""
        with self._lock:
            return self._index(resource, "r"), self._index(scope, "c")

    @property
    def exports_in_process(self) -> bool:
        """True when no export process could be started: the SDK's batch processor and
        exporter run here (decided once, when the processor starts)."""
        return self._inline is not None

    def on_end_row(self, row: tuple[Any, ...]) -> None:
        """A :class:`~.leanspan.LeanSpan` ended, sampled: its row, as
        :func:`~.spanwire.load_lean_span` reads it (resource and scope from
        :meth:`register`)."""
        if self._closed:
            return
        if self._inline is not None:
            self._inline.on_end(self._rebuilt(row))
            return
        if self._pending_size > _MAX_PENDING:
            with self._lock:
                self._drop(1, "the span export pipe is full")
            return
        with self._lock:
            lean = self._lean
            lean.append(row)
            if len(lean) + len(self._rows) >= _FLUSH_AT:
                self._flush()

    def _rebuilt(self, row: tuple[Any, ...]) -> ReadableSpan:
        if self._limits is None:
            self._limits = SpanLimits()
        things = {index: thing for thing, index in self._known.values()}
        return load_lean_span(row, things, things, self._limits)  # type: ignore[arg-type]

    def _index(self, thing: object, kind: str) -> int:
        known = self._known.get(id(thing))
        if known is not None and known[0] is thing:
            return known[1]
        index = len(self._defs)
        row = resource_row(thing) if kind == "r" else scope_row(thing)  # type: ignore[arg-type]
        self._defs.append(frame((kind, index, row)))
        self._known[id(thing)] = (thing, index)
        return index

    # -- writing (under self._lock) --------------------------------------------------

    def _flush(self) -> None:
        """Write what is buffered without ever blocking; called with the lock held."""
        if self._pid != os.getpid():
            self._forget()
        spans, lean = self._rows, self._lean
        marker, self._marker = self._marker, False
        if not spans and not lean and not self._pending and not marker:
            return
        self._rows, self._lean = [], []
        count = len(spans) + len(lean)
        proc = self._proc
        now = time.monotonic()
        if proc is None:
            if now >= self._next_spawn and not self._closed:
                self._spawn()
                proc = self._proc
            if proc is None:
                self._drop(count, "no span export process")
                return
        if (self._stalled_since is not None
                and now - self._stalled_since > self._stall_limit):
            self._lost(proc, count, "it took nothing for "
                       f"{self._stall_limit:g} s")
            return
        if count and self._pending_size > _MAX_PENDING:
            self._drop(count, "the span export pipe is full")
            spans, lean, count = [], [], 0
        if count or marker:  # a flush request is never dropped: it is a few bytes
            chunk = (b"".join(self._defs[self._defs_sent:])
                     + (frame(("b", spans)) if spans else b"")
                     + (frame(("l", lean)) if lean else b"")
                     + (_FLUSH_MARKER if marker else b""))
            self._defs_sent = len(self._defs)
            self._pending.append(chunk)
            self._pending_size += len(chunk)
        try:
            written = os.writev(self._fd, list(islice(self._pending, 64))) if self._pending else 0
        except BlockingIOError:
            written = 0
        except OSError as exc:  # the process is gone (EPIPE) or its pipe broke
            self._lost(proc, count, str(exc) or type(exc).__name__)
            return
        self._pending_size -= written
        progress = written > 0
        while written:
            head = self._pending[0]
            if written >= len(head):
                self._pending.popleft()
                written -= len(head)
            else:
                self._pending[0] = head[written:]
                written = 0
        if not self._pending:
            self._stalled_since = None
        elif progress or self._stalled_since is None:
            self._stalled_since = now  # the stall clock runs from the last progress

    def _drop(self, count: int, reason: str) -> None:
        if count and self._drops.add(count):
            log.warning("%d spans dropped so far (%s)", self._drops.count, reason)

    def _lost(self, proc: subprocess.Popen[bytes], spans: int, reason: str) -> None:
        """The process failed: what it had not taken is lost; a new one comes later."""
        log.warning("span export process failed (%s); a new one takes the next spans",
                    reason)
        self._proc, self._fd = None, -1
        self._pending, self._pending_size = deque(), 0
        self._stalled_since = None
        self._next_spawn = 0.0  # at once: only a failed start waits _RESPAWN_AFTER
        self._stop(proc, kill=True)
        self._drop(spans, reason)

    # -- the process ---------------------------------------------------------------

    def _spawn(self) -> bool:
        proc = start_export_process(self._settings)
        if proc is None:
            self._next_spawn = time.monotonic() + _RESPAWN_AFTER
            return False
        assert proc.stdin is not None
        self._fd = proc.stdin.fileno()
        os.set_blocking(self._fd, False)  # the event loop must never wait for it
        self._proc, self._defs_sent = proc, 0
        self._pending, self._pending_size = deque(), 0
        self._stalled_since = None
        return True

    def _start_timer(self) -> None:
        ref = weakref.ref(self)
        wake = self._wake

        def tick() -> None:
            while not wake.wait(_FLUSH_INTERVAL):
                processor = ref()
                if processor is None or processor._closed:
                    return
                with processor._lock:
                    processor._flush()
                del processor

        threading.Thread(target=tick, name="a2a-mqtt-span-flush", daemon=True).start()

    def _forget(self) -> None:
        """In a forked child: the pipes belong to the parent's process. Closed
        unbuffered (nothing of ours can be flushed into them), and never waited for."""
        proc, self._proc, self._fd = self._proc, None, -1
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._rows, self._lean, self._defs_sent = [], [], 0
        self._pending, self._pending_size = deque(), 0
        self._marker, self._stalled_since = False, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            proc.returncode = 0  # not our child: nothing to reap or warn about
        self._next_spawn = 0.0
        self._wake = threading.Event()
        if not self._closed and self._inline is None:
            self._start_timer()

    def _stop(self, proc: subprocess.Popen[bytes], *, kill: bool) -> None:
        stop_export_process(proc, kill=kill, timeout=self._stall_limit)

    # -- flush and shutdown (any thread; they may wait) ----------------------------

    def _drain(self, deadline: float) -> subprocess.Popen[bytes] | None:
        """Write everything buffered, waiting for the pipe until ``deadline``; the
        process, or None if it is gone or too slow."""
        while True:
            with self._lock:
                self._flush()
                proc = self._proc
                if proc is None or not self._pending:
                    return proc
                fd = self._fd
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([], [fd], [], min(left, 0.5))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Everything ended so far is exported (or failed) before this returns True."""
        if self._inline is not None:
            return self._inline.force_flush(timeout_millis)
        deadline = time.monotonic() + timeout_millis / 1000
        with self._flush_lock:
            with self._lock:  # the marker goes behind every span ended so far
                self._marker = True
            proc = self._drain(deadline)
            if proc is None or proc.stdout is None:
                return False
            try:
                answer = read_byte(proc.stdout, max(0.0, deadline - time.monotonic()))
            except OSError:
                return False
            return answer == OK

    def shutdown(self) -> None:
        """Hand over what is buffered, let the process export it, then end it."""
        if self._closed:
            return
        if self._inline is not None:
            self._closed = True
            self._wake.set()
            self._inline.shutdown()
            return
        self._drain(time.monotonic() + self._stall_limit)
        with self._lock:
            self._closed = True
            self._wake.set()
            proc, self._proc, self._fd = self._proc, None, -1
        if proc is not None:
            self._stop(proc, kill=False)
