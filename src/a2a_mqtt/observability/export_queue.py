"""The export queue: ended spans in, batches out to the exporter on one worker thread.

A ``SpanProcessor`` (the SDK's public interface), so the tracer provider hands it
a2a-sdk's own spans too, when those are on; our :class:`~.spans.LeanSpan` objects
come straight from their ``end``. The hot path (:meth:`on_end`) is a deque append
and a length check; the worker wakes when a batch is full or every
``schedule_delay`` seconds, as the SDK's batch processor does, and reads the same
``OTEL_BSP_*`` variables.

Invariants: one worker thread (named), started with the queue and joined by
:meth:`shutdown`, which first exports what is queued; a full queue drops the newest
span (one warning per burst), never blocks the event loop; the exporter is called
by one thread at a time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Span

from a2a_mqtt.errors import ConfigError

__all__ = ["ExportQueue", "QueueSettings"]

log = logging.getLogger("a2a_mqtt.observability")

_DEFAULTS: Final = {"OTEL_BSP_SCHEDULE_DELAY": 5000, "OTEL_BSP_MAX_QUEUE_SIZE": 2048,
                    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512}


class QueueSettings:
    """Batch size, queue bound and wake-up delay (``OTEL_BSP_*``, the SDK's defaults)."""

    def __init__(self, *, schedule_delay: float = 5.0, max_queue: int = 2048,
                 max_batch: int = 512) -> None:
        if schedule_delay <= 0 or max_queue < 1 or not 1 <= max_batch <= max_queue:
            raise ConfigError(f"span batching: delay {schedule_delay} s, queue {max_queue}, "
                              f"batch {max_batch} are not consistent")
        self.schedule_delay, self.max_queue, self.max_batch = (
            schedule_delay, max_queue, max_batch)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QueueSettings:
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, default in _DEFAULTS.items():
            raw = env.get(name, "").strip()
            try:
                values[name] = int(raw) if raw else default
            except ValueError:
                raise ConfigError(f"{name} {raw!r} is not an integer") from None
        return cls(schedule_delay=values["OTEL_BSP_SCHEDULE_DELAY"] / 1000,
                   max_queue=values["OTEL_BSP_MAX_QUEUE_SIZE"],
                   max_batch=values["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"])


class ExportQueue(SpanProcessor):
    def __init__(self, exporter: SpanExporter, settings: QueueSettings | None = None) -> None:
        self._exporter = exporter
        self._settings = settings = settings or QueueSettings()
        self._max_queue, self._max_batch = settings.max_queue, settings.max_batch
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._stopped = False
        self._dropping = False
        self._thread = threading.Thread(target=self._work, name="a2a-mqtt.span-export",
                                        daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan | Any) -> None:
        queue = self._queue
        if self._stopped:
            return
        if len(queue) >= self._max_queue:
            if not self._dropping:
                self._dropping = True
                log.warning("span export queue full (%d): spans dropped", self._max_queue)
            return
        queue.append(span)
        if len(queue) >= self._max_batch and not self._wake.is_set():
            self._wake.set()

    def _work(self) -> None:
        while not self._stopped:
            self._wake.wait(self._settings.schedule_delay)
            self._wake.clear()
            self._export()

    def _export(self) -> None:
        """Everything queued, in batches (the oldest first)."""
        with self._export_lock:
            queue = self._queue
            while queue:
                n = min(len(queue), self._max_batch)
                batch = [queue.popleft() for _ in range(n)]
                self._dropping = False
                try:
                    self._exporter.export(batch)
                except Exception:
                    log.exception("span export failed")

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._export()
        return True

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        self._thread.join()
        self._export()
        self._exporter.shutdown()
