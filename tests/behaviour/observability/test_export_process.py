"""The span export process against a real OTLP/HTTP receiver.

The exporter is driven directly (as the SDK's batch processor drives it) from a
worker thread: ``export`` blocks until the process answers, and the receiver runs
on the test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from a2a_mqtt.observability.childexport import ProcessSpanExporter
from tests.behaviour.observability.otlp import otlp_receiver

pytestmark = pytest.mark.asyncio


class Ended(SpanProcessor):
    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def spans(prefix: str, n: int) -> list[ReadableSpan]:
    provider = TracerProvider(resource=Resource.create({"service.name": "export-test"}))
    ended = Ended()
    provider.add_span_processor(ended)
    tracer = provider.get_tracer("t")
    for i in range(n):
        tracer.start_span(f"{prefix}-{i}", attributes={"i": i}).end()
    return ended.ended


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: its parent has not reaped it yet.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def started(exporters: list[ProcessSpanExporter], endpoint: str) -> ProcessSpanExporter:
    """A new exporter, shut down by the ``exporters`` fixture at the end of the test."""
    exporter = ProcessSpanExporter(endpoint=endpoint)
    exporters.append(exporter)
    return exporter


@pytest.fixture
def exporters() -> Iterator[list[ProcessSpanExporter]]:
    made: list[ProcessSpanExporter] = []
    yield made
    for e in made:
        e.shutdown()


async def test_spans_go_out_through_another_process_and_it_ends_at_shutdown(
        exporters: list[ProcessSpanExporter]) -> None:
    async with otlp_receiver() as (url, collector):
        exporter = started(exporters, f"{url}/v1/traces")
        pid = exporter.pid
        assert pid is not None and pid != os.getpid()
        result = await asyncio.to_thread(exporter.export, spans("a", 20))
        assert result is SpanExportResult.SUCCESS
        got = await collector.wait_for(lambda s: len(s) >= 20)
        assert sorted(s.name for s in got) == sorted(f"a-{i}" for i in range(20))
        assert {s.service for s in got} == {"export-test"}
        assert {s.attributes["i"] for s in got} == set(range(20))
        # A Ctrl-C or SIGTERM for the service's process group leaves it working.
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        assert await asyncio.to_thread(exporter.export, spans("after-signals", 1)) is \
            SpanExportResult.SUCCESS
        assert exporter.pid == pid
        await collector.wait_for(lambda s: len(s) >= 21)
        await asyncio.to_thread(exporter.shutdown)
        assert exporter.pid is None and not alive(pid)
        assert await asyncio.to_thread(exporter.export, spans("late", 1)) is \
            SpanExportResult.FAILURE


async def test_a_killed_process_fails_one_batch_and_a_new_one_takes_the_next(
        exporters: list[ProcessSpanExporter]) -> None:
    async with otlp_receiver() as (url, collector):
        exporter = started(exporters, f"{url}/v1/traces")
        first = exporter.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert await asyncio.to_thread(exporter.export, spans("lost", 3)) is \
            SpanExportResult.FAILURE
        assert await asyncio.to_thread(exporter.export, spans("b", 5)) is \
            SpanExportResult.SUCCESS
        assert exporter.pid not in (None, first)
        got = await collector.wait_for(lambda s: len(s) >= 5)
        assert sorted(s.name for s in got) == [f"b-{i}" for i in range(5)]


async def test_a_collector_that_is_down_fails_the_batch_in_bounded_time(
        exporters: list[ProcessSpanExporter], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    # Bound, never listening: every connection is refused, and the port stays ours.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    exporter = started(exporters, f"http://127.0.0.1:{port}/v1/traces")
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await asyncio.to_thread(exporter.export, spans("c", 2))
    assert result is SpanExportResult.FAILURE
    assert loop.time() - start < 6  # the exporter's 1 s (retries within it) + slack
    assert exporter.pid is not None  # the process itself is fine and stays
    closed.close()


async def test_without_a_process_the_spans_are_exported_here(
        exporters: list[ProcessSpanExporter], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    async with otlp_receiver() as (url, collector):
        exporter = started(exporters, f"{url}/v1/traces")
        assert exporter.pid is None
        assert await asyncio.to_thread(exporter.export, spans("d", 4)) is \
            SpanExportResult.SUCCESS
        got = await collector.wait_for(lambda s: len(s) >= 4)
        assert sorted(s.name for s in got) == [f"d-{i}" for i in range(4)]


async def test_a_forked_child_gets_its_own_process_and_leaves_the_parents_alone(
        exporters: list[ProcessSpanExporter]) -> None:
    async with otlp_receiver() as (url, collector):
        exporter = started(exporters, f"{url}/v1/traces")
        parent_export = exporter.pid

        def fork_and_export() -> int:
            pid = os.fork()
            if pid == 0:  # the child: export once, through a process of its own
                code = 1
                try:
                    ok = exporter.export(spans("child", 3)) is SpanExportResult.SUCCESS
                    own = exporter.pid not in (None, parent_export)
                    exporter.shutdown()
                    code = 0 if ok and own else 3
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)

        assert await asyncio.to_thread(fork_and_export) == 0
        # The parent's process was not written to by the child and still works.
        assert exporter.pid == parent_export
        assert await asyncio.to_thread(exporter.export, spans("parent", 2)) is \
            SpanExportResult.SUCCESS
        got = await collector.wait_for(lambda s: len(s) >= 5)
        assert sorted(s.name for s in got) == sorted(
            [f"child-{i}" for i in range(3)] + ["parent-0", "parent-1"])


async def test_a_batch_the_encoder_refuses_fails_alone_and_the_process_carries_on(
        exporters: list[ProcessSpanExporter]) -> None:
    async with otlp_receiver() as (url, collector):
        exporter = started(exporters, f"{url}/v1/traces")
        pid = exporter.pid
        provider = TracerProvider(resource=Resource.create({"service.name": "export-test"}))
        ended = Ended()
        provider.add_span_processor(ended)
        provider.get_tracer("t").start_span("\ud800 unencodable").end()
        assert await asyncio.to_thread(exporter.export, ended.ended) is \
            SpanExportResult.FAILURE
        assert exporter.pid == pid  # the same process, still serving
        assert await asyncio.to_thread(exporter.export, spans("e", 3)) is \
            SpanExportResult.SUCCESS
        got = await collector.wait_for(lambda s: len(s) >= 3)
        assert sorted(s.name for s in got) == ["e-0", "e-1", "e-2"]
