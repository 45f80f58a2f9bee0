"""The span export process against a real OTLP/HTTP receiver.

The processor is driven as the SDK drives it: a ``TracerProvider`` ends spans into
it (``on_end`` never waits); ``force_flush`` (from a worker thread: it waits for the
process's answer) means "exported", and the receiver runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from a2a_mqtt.observability.childexport import ProcessSpanProcessor
from tests.behaviour.observability.otlp import otlp_receiver

pytestmark = pytest.mark.asyncio


def end_spans(processor: ProcessSpanProcessor, prefix: str, n: int, **attrs: object) -> None:
    """``n`` spans of a provider of their own, ended into ``processor``."""
    provider = TracerProvider(resource=Resource.create({"service.name": "export-test"}),
                              shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for i in range(n):
        tracer.start_span(f"{prefix}-{i}", attributes={"i": i, **attrs}).end()  # type: ignore[dict-item]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: its parent has not reaped it yet.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def started(processors: list[ProcessSpanProcessor], endpoint: str) -> ProcessSpanProcessor:
    """A new processor, shut down by the ``processors`` fixture at the end of the test."""
    processor = ProcessSpanProcessor(endpoint=endpoint)
    processors.append(processor)
    return processor


@pytest.fixture
def processors() -> Iterator[list[ProcessSpanProcessor]]:
    made: list[ProcessSpanProcessor] = []
    yield made
    for p in made:
        p.shutdown()


async def flush(processor: ProcessSpanProcessor, timeout_ms: int = 20_000) -> bool:
    return await asyncio.to_thread(processor.force_flush, timeout_ms)


async def test_spans_go_out_through_another_process_and_it_ends_at_shutdown(
        processors: list[ProcessSpanProcessor]) -> None:
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        pid = processor.pid
        assert pid is not None and pid != os.getpid()
        end_spans(processor, "a", 20)
        assert await flush(processor)
        got = await collector.wait_for(lambda s: len(s) >= 20)
        assert sorted(s.name for s in got) == sorted(f"a-{i}" for i in range(20))
        assert {s.service for s in got} == {"export-test"}
        assert {s.attributes["i"] for s in got} == set(range(20))
        # A Ctrl-C or SIGTERM for the service's process group leaves it working.
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        end_spans(processor, "after-signals", 1)
        assert await flush(processor)
        assert processor.pid == pid
        await collector.wait_for(lambda s: len(s) >= 21)
        # Ended but not flushed: shutdown hands them over before the process ends.
        end_spans(processor, "at-shutdown", 3)
        await asyncio.to_thread(processor.shutdown)
        assert processor.pid is None and not alive(pid)
        got = await collector.wait_for(lambda s: len(s) >= 24)
        assert sorted(s.name for s in got if s.name.startswith("at-")) == [
            f"at-shutdown-{i}" for i in range(3)]
        end_spans(processor, "late", 1)
        assert not await flush(processor, 1_000)
        assert processor.dropped == 0


async def test_a_killed_process_loses_its_spans_and_a_new_one_takes_the_next(
        processors: list[ProcessSpanProcessor]) -> None:
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        first = processor.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        for _ in range(500):  # bounded: the kernel ends it within milliseconds
            if not alive(first):
                break
            await asyncio.sleep(0.01)
        end_spans(processor, "lost", 3)
        assert not await flush(processor)
        assert processor.dropped == 3
        end_spans(processor, "b", 5)
        assert await flush(processor)
        assert processor.pid not in (None, first)
        got = await collector.wait_for(lambda s: len(s) >= 5)
        assert sorted(s.name for s in got) == [f"b-{i}" for i in range(5)]


async def test_a_collector_that_is_down_costs_a_flush_bounded_time(
        processors: list[ProcessSpanProcessor], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    # Bound, never listening: every connection is refused, and the port stays ours.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    processor = started(processors, f"http://127.0.0.1:{port}/v1/traces")
    pid = processor.pid
    end_spans(processor, "c", 2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await flush(processor)
    assert loop.time() - start < 6  # the exporter's 1 s (retries within it) + slack
    assert processor.pid == pid  # the process itself is fine and stays
    closed.close()


async def test_without_a_process_the_spans_are_exported_here(
        processors: list[ProcessSpanProcessor], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        assert processor.pid is None
        end_spans(processor, "d", 4)
        assert await flush(processor)
        got = await collector.wait_for(lambda s: len(s) >= 4)
        assert sorted(s.name for s in got) == [f"d-{i}" for i in range(4)]


async def test_a_forked_child_gets_its_own_process_and_leaves_the_parents_alone(
        processors: list[ProcessSpanProcessor]) -> None:
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        parent_export = processor.pid

        def fork_and_export() -> int:
            pid = os.fork()
            if pid == 0:  # the child: export once, through a process of its own
                code = 1
                try:
                    end_spans(processor, "child", 3)
                    ok = processor.force_flush(20_000)
                    own = processor.pid not in (None, parent_export)
                    processor.shutdown()
                    code = 0 if ok and own else 3
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)

        assert await asyncio.to_thread(fork_and_export) == 0
        # The parent's process was not written to by the child and still works.
        assert processor.pid == parent_export
        end_spans(processor, "parent", 2)
        assert await flush(processor)
        got = await collector.wait_for(lambda s: len(s) >= 5)
        assert sorted(s.name for s in got) == sorted(
            [f"child-{i}" for i in range(3)] + ["parent-0", "parent-1"])


async def test_a_span_the_encoder_refuses_fails_alone_and_the_process_carries_on(
        processors: list[ProcessSpanProcessor]) -> None:
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        pid = processor.pid
        end_spans(processor, "\ud800 unencodable", 1)
        await flush(processor)
        assert processor.pid == pid  # the same process, still serving
        end_spans(processor, "e", 3)
        assert await flush(processor)
        got = await collector.wait_for(lambda s: len(s) >= 3)
        assert sorted(s.name for s in got) == ["e-0", "e-1", "e-2"]


async def test_a_stuck_process_never_blocks_the_service_and_spans_are_dropped_counted(
        processors: list[ProcessSpanProcessor]) -> None:
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        pid = processor.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # takes nothing from its pipe while stopped
        try:
            slowest = 0.0
            for i in range(400):  # bounded: 400 x 64 spans of 8 KB, far above the cap
                start = time.perf_counter()
                end_spans(processor, f"x{i}", 64, pad="p" * 8192)
                slowest = max(slowest, time.perf_counter() - start)
                if processor.dropped:
                    break
            assert processor.dropped > 0
            assert slowest < 1.0  # 64 spans; a blocked write would hang here for good
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await flush(processor, 60_000)  # what the pipe held goes out
        dropped = processor.dropped
        end_spans(processor, "after", 1)
        assert await flush(processor)
        assert processor.pid == pid and processor.dropped == dropped
        await collector.wait_for(lambda s: any(x.name == "after-0" for x in s), timeout=60)


async def test_the_process_logs_in_the_services_format(
        processors: list[ProcessSpanProcessor], monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from a2a_mqtt.observability.logs import JsonFormatter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # never listening: the exporter logs its failure
        try:
            processor = started(processors,
                                f"http://127.0.0.1:{closed.getsockname()[1]}/v1/traces")
        finally:
            logging.getLogger().removeHandler(handler)
        end_spans(processor, "f", 1)
        await flush(processor)
        await asyncio.to_thread(processor.shutdown)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert lines  # the export process said why the spans did not go out
    for line in lines:
        assert json.loads(line)["level"] in ("WARNING", "ERROR")


async def test_a_process_that_takes_nothing_is_replaced_after_the_exporters_timeout(
        processors: list[ProcessSpanProcessor], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")  # the limit: 1 + 5 s
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        stuck = processor.pid
        assert stuck is not None
        os.kill(stuck, signal.SIGSTOP)
        try:
            for i in range(100):  # bounded: until the pipe (64 KB) holds no more
                end_spans(processor, f"x{i}", 64, pad="p" * 1024)
                if processor.dropped or not flushed_at_once(processor):
                    break
            loop = asyncio.get_running_loop()
            start = loop.time()
            while processor.pid == stuck and loop.time() - start < 20:
                await asyncio.sleep(0.2)  # the processor's timer checks twice a second
            assert processor.pid != stuck and not alive(stuck)
            assert 5 < loop.time() - start < 20
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stuck, signal.SIGCONT)
        dropped = processor.dropped
        end_spans(processor, "fresh", 2)
        assert await flush(processor)  # a new process, started for these
        assert processor.pid not in (stuck, None) and processor.dropped == dropped
        got = await collector.wait_for(lambda s: sum(x.name.startswith("fresh") for x in s) >= 2)
        assert sorted(s.name for s in got if s.name.startswith("fresh")) == ["fresh-0", "fresh-1"]


def flushed_at_once(processor: ProcessSpanProcessor) -> bool:
    """Whether the pipe took everything written so far (nothing waits)."""
    return processor.pending_bytes == 0


async def test_spans_the_process_dropped_are_on_every_services_metrics() -> None:
    from opentelemetry.trace import SpanKind

    from a2a_mqtt.observability.metrics import Metrics
    from a2a_mqtt.observability.tracing import TracingConfig, configure_tracing, span

    def scraped(metrics: Metrics) -> float:
        text = metrics.render()[0].decode()
        (line,) = [x for x in text.splitlines()
                   if x.startswith("a2a_mqtt_trace_spans_dropped_total{")]
        return float(line.split()[1])

    async with otlp_receiver() as (url, _collector):
        handle = configure_tracing(TracingConfig(endpoint=f"{url}/v1/traces",
                                                 service_name="drops"))
        assert handle is not None and handle.processor is not None
        metrics = Metrics(service="drops-test")
        try:
            assert scraped(metrics) == 0
            pid = handle.processor.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)  # the export process takes nothing while stopped
            try:
                for i in range(20_000):  # bounded: far above what the pipe holds
                    with span(f"s{i}", kind=SpanKind.INTERNAL, attributes={"pad": "p" * 4096}):
                        pass
                    if handle.dropped() and i % 64 == 63:
                        break
                assert handle.dropped() > 0
                assert scraped(metrics) == handle.dropped()
            finally:
                os.kill(pid, signal.SIGCONT)
        finally:
            metrics.shutdown()
            handle.shutdown()


async def test_lean_spans_go_out_through_the_process_under_its_span_limits(
        processors: list[ProcessSpanProcessor], monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from a2a_mqtt.observability.leanspan import LeanTracer

    # The export process inherits the service's environment and reads the SDK's limits
    # there; the lean spans carry every attribute they were given.
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    async with otlp_receiver() as (url, collector):
        processor = started(processors, f"{url}/v1/traces")
        ri, si = processor.register(Resource.create({"service.name": "lean-export"}),
                                    InstrumentationScope("a2a_mqtt", "t"))
        tracer = LeanTracer(sampler=ParentBased(ALWAYS_ON), id_generator=RandomIdGenerator(),
                            limits=SpanLimits(), sink=processor.on_end_row,
                            resource_index=ri, scope_index=si)
        for i in range(70):  # more than one write (64 spans) and a remainder
            span = tracer.start_span(f"lean-{i}", attributes={"a": 1, "b": 2})
            span.set_attribute("i", i)
            span.end()
        end_spans(processor, "sdk", 3)  # the SDK's spans share the processor
        assert await flush(processor)
        got = await collector.wait_for(lambda s: len(s) >= 73)
        lean = [s for s in got if s.name.startswith("lean-")]
        assert sorted(s.name for s in lean) == sorted(f"lean-{i}" for i in range(70))
        assert {(s.service, s.scope) for s in lean} == {("lean-export", "a2a_mqtt")}
        assert {s.attributes["i"] for s in lean} == set(range(70))
        assert all(set(s.attributes) == {"b", "i"} for s in lean)
        assert len([s for s in got if s.name.startswith("sdk-")]) == 3
        assert processor.dropped == 0
