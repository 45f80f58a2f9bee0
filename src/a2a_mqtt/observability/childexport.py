"""A span exporter that hands each batch to the export process (:mod:`.exportproc`).

It plugs into the SDK's ``BatchSpanProcessor`` as its ``SpanExporter``: batching,
the bounded queue (spans beyond it are dropped and counted by the SDK), flush and
shutdown stay the SDK's. ``export`` runs on the processor's worker thread: it turns
the batch into tuples (:mod:`.spanwire`, a few µs a span), writes them to the
process and waits for its one-byte answer, so ``force_flush`` still means
"exported". The encoder and the HTTP POST happen in the other process.

Failure rules: a process that died or stopped answering is killed and a new one
started for the next batch (that batch is reported failed, as a collector that is
down would be); if no process can be started at all, batches are exported here with
the official exporter, the way the SDK would without this class. After ``fork()``
the child drops the parent's pipes (without writing to them) and starts its own
process on its first batch.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from a2a_mqtt.observability.exportproc import OK
from a2a_mqtt.observability.spanwire import dump_batch, frame

__all__ = ["ProcessSpanExporter"]

log = logging.getLogger("a2a_mqtt.observability")

_RESPAWN_AFTER: Final = 5.0
"""Seconds between two attempts to start the process after one failed."""
_ANSWER_SLACK: Final = 5.0
"""Seconds beyond the exporter's own timeout (its retries included) to wait for an answer."""
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])


class ProcessSpanExporter(SpanExporter):
    """Export through a child process running ``OTLPSpanExporter(**settings)``."""

    def __init__(self, *, endpoint: str) -> None:
        # Headers, certificates, compression and the timeout come from the OTEL_*
        # variables, which the process inherits and the official exporter reads.
        self._settings: dict[str, Any] = {"endpoint": endpoint}
        self._answer_timeout = _exporter_timeout() + _ANSWER_SLACK
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()
        self._next_spawn = 0.0
        self._inline: SpanExporter | None = None
        self._closed = False
        self._spawn()
        ref = weakref.ref(self)

        def after_fork() -> None:
            exporter = ref()
            if exporter is not None:
                exporter._forget()

        os.register_at_fork(after_in_child=after_fork)

    @property
    def pid(self) -> int | None:
        """The export process's pid (None: none running)."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    def _spawn(self) -> None:
        env = dict(os.environ)
        # The child imports this very package, wherever the parent found it.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "a2a_mqtt.observability.exportproc"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env,
                close_fds=True)
            assert proc.stdin is not None
            _write_all(proc.stdin, frame(self._settings))
        except OSError as exc:
            self._next_spawn = time.monotonic() + _RESPAWN_AFTER
            if self._inline is None:
                log.warning("span export process did not start (%s); exporting in-process",
                            exc)
            return
        self._proc = proc

    def _forget(self) -> None:
        """In a forked child: the pipes belong to the parent's process. Closed
        unbuffered (nothing of ours can be flushed into them), and never waited for."""
        proc, self._proc = self._proc, None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            proc.returncode = 0  # not our child: nothing to reap or warn about
        self._next_spawn = 0.0

    def _stop(self, proc: subprocess.Popen[bytes], *, kill: bool) -> None:
        if kill:
            proc.kill()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=self._answer_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        with self._lock:
            proc = self._proc
            if proc is None and time.monotonic() >= self._next_spawn:
                self._spawn()
                proc = self._proc
            if proc is None:
                return self._export_inline(spans)
            try:
                assert proc.stdin is not None
                assert proc.stdout is not None
                _write_all(proc.stdin, frame(dump_batch(spans)))
                answer = _read_byte(proc.stdout, self._answer_timeout)
            except OSError as exc:
                answer, reason = None, str(exc)
            else:
                reason = "no answer in time" if answer is None else ""
            if answer is None:
                log.warning("span export process failed (%s); a new one takes the next batch",
                            reason)
                self._proc = None
                self._stop(proc, kill=True)
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS if answer == OK else SpanExportResult.FAILURE

    def _export_inline(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._inline is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )
            self._inline = OTLPSpanExporter(**self._settings)
        return self._inline.export(spans)

    def shutdown(self) -> None:
        """Let the process finish what it has, then end it (the processor has already
        exported everything it held)."""
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
            if proc is not None:
                self._stop(proc, kill=False)
            if self._inline is not None:
                self._inline.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export waits for its answer: nothing is held here


def _exporter_timeout() -> float:
    """The official exporter's timeout in seconds, as it reads it (default 10)."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                return float(raw)
            except ValueError:
                break
    return 10.0


def _write_all(stream: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking pipe that is full: not ours
            raise OSError("the span export pipe is not blocking")
        view = view[written:]


def _read_byte(stream: IO[bytes], timeout: float) -> bytes | None:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return None
    answer = stream.read(1)
    if not answer:
        raise OSError("the span export process ended")
    return answer
