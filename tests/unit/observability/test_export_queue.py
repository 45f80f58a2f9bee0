"""The export queue: full batches go at once, the rest at shutdown; a full queue drops."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.export_queue import ExportQueue, QueueSettings


class Recorder(SpanExporter):
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.exported = threading.Event()
        self.shut = False
        self._gate = gate

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._gate is not None:
            self._gate.wait(10)
        self.batches.append(list(spans))
        self.exported.set()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut = True


def test_a_full_batch_wakes_the_worker_and_shutdown_sends_the_rest_in_order() -> None:
    rec = Recorder()
    q = ExportQueue(rec, QueueSettings(schedule_delay=60, max_queue=100, max_batch=3))
    for i in range(4):
        q.on_end(i)
    assert rec.exported.wait(10)  # the 60 s delay did not hold the full batch back
    q.shutdown()
    assert [x for b in rec.batches for x in b] == [0, 1, 2, 3]
    assert all(len(b) <= 3 for b in rec.batches) and rec.shut
    q.on_end(9)  # after shutdown: ignored
    assert [x for b in rec.batches for x in b] == [0, 1, 2, 3]


def test_a_full_queue_drops_the_newest_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    rec = Recorder(gate)
    q = ExportQueue(rec, QueueSettings(schedule_delay=60, max_queue=4, max_batch=2))
    q.on_end("a")
    q.on_end("b")  # a full batch: the worker takes it and waits at the gate
    for x in "cdefgh":
        q.on_end(x)
    gate.set()
    q.shutdown()
    sent = [x for b in rec.batches for x in b]
    assert sent[:2] == ["a", "b"] and len(sent) < 8 and "h" not in sent
    assert caplog.text.count("queue full") == 1


def test_settings_from_the_standard_variables() -> None:
    s = QueueSettings.from_env({"OTEL_BSP_SCHEDULE_DELAY": "250",
                                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64"})
    assert (s.schedule_delay, s.max_queue, s.max_batch) == (0.25, 2048, 64)
    for bad in ({"OTEL_BSP_MAX_QUEUE_SIZE": "x"}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "5000"},
                {"OTEL_BSP_SCHEDULE_DELAY": "0"}):
        with pytest.raises(ConfigError):
            QueueSettings.from_env(bad)
