"""One variant of bench/observability_cost.py in its own process.

The worker builds its agent (``BenchExecutor`` in an ``AgentHost``) and its requester
on the shared broker, as its variant says, warms up, prints ``ready`` and then obeys
lines on stdin: ``run SECONDS`` drives unary SendMessage calls (``Requester.call``,
QoS 1) at 100 in flight for SECONDS and prints one JSON line (completions within
the window, CPU milliseconds per request of this whole process within the window,
all threads, the span exporter's included; the garbage collector's share of it, µs per
request; median latency); ``quit`` (or EOF)
ends it.

Tracing is process-wide (one tracer provider) and wraps the executor when the agent
starts, which is why every variant gets a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import os
import sys
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx

from _common import BENCH_TEXT, BenchExecutor, bench_card, median
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import Requester, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.metrics import Metrics
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.host import AgentHost

IN_FLIGHT = 100
SCRAPE_INTERVAL = 5.0
"""Seconds between two scrapes of /metrics during a run (Prometheus' default is 15 s)."""


@dataclass(frozen=True)
class Spec:
    name: str
    metrics: bool
    scrape: bool
    #: Tracing's sample ratio (None: tracing off).
    tracing: float | None = None
    #: Spans encoded and sent by the export process (the default) or in this one.
    export_process: bool = True


VARIANTS: tuple[Spec, ...] = (
    Spec("off", metrics=False, scrape=False),
    Spec("metrics", metrics=True, scrape=True),
    Spec("metrics-no-http", metrics=True, scrape=False),
    Spec("tracing-100", metrics=False, scrape=False, tracing=1.0),
    Spec("tracing-1", metrics=False, scrape=False, tracing=0.01),
    Spec("tracing-100+metrics", metrics=True, scrape=True, tracing=1.0),
    Spec("tracing-100-inline", metrics=False, scrape=False, tracing=1.0, export_process=False),
)
BY_NAME = {spec.name: spec for spec in VARIANTS}


def _params() -> dict[str, Any]:
    return {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                        "parts": [{"text": BENCH_TEXT}], "taskId": str(uuid.uuid4()),
                        "contextId": str(uuid.uuid4())}}


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its children that still run:
    the span export process and the metrics process work for this one, so their CPU
    is counted here."""
    total = time.process_time()
    for pid in _children():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


_TICKS = os.sysconf("SC_CLK_TCK")


def _waited() -> float:
    """Seconds the main thread (the event loop) has been runnable but not running,
    waiting for a CPU that other work held (Linux's ``/proc/PID/schedstat``; 0
    elsewhere): the broker, the metrics process, anything else on the machine.
    Throughput is about 1 / (own CPU + this wait) per request, as the loop never sleeps
    at 100 in flight (docs/performance.md, "Observability: what metrics cost", Session 10)."""
    try:
        with open(f"/proc/{os.getpid()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class _GcClock:
    """Seconds this process spent in the cyclic garbage collector (``gc.callbacks``):
    spans that live across a call reach its older generations (docs/performance.md,
    "Tracing: what it costs")."""

    def __init__(self) -> None:
        self.total = 0.0
        self._start = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._start


_GC = _GcClock()


def _children() -> list[int]:
    """Children of every thread of this process (a thread's children are its own)."""
    pids: list[int] = []
    for tid in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{tid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            continue
    return pids


async def _scraper(url: str, http: httpx.AsyncClient) -> None:
    while True:
        await asyncio.sleep(SCRAPE_INTERVAL)
        (await http.get(f"{url}/metrics")).raise_for_status()


async def serve(name: str, broker_url: str, sink_url: str) -> None:
    spec = BY_NAME[name]
    async with AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        if spec.tracing is not None:  # before the agent starts: it wraps its executor
            from a2a_mqtt.observability.tracing import TracingConfig, configure_tracing

            handle = configure_tracing(TracingConfig(
                endpoint=sink_url, sample_ratio=spec.tracing, service_name=f"bench-{name}",
                export_process=spec.export_process))
            if handle is not None:
                stack.callback(handle.shutdown)
        ref, host, requester, _ = await _setup(stack, broker_url, name.replace("+", "-"),
                                               metrics=spec.metrics, scrape=spec.scrape)

        async def run(seconds: float) -> dict[str, float]:
            return await window(requester, ref, seconds, name,
                                scrape=host.metrics_url if spec.scrape else None, http=http)

        await run(1.0)  # warm-up: connections, imports, caches
        print("ready", flush=True)
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not line or line[0] != "run":
                return  # "quit", or the parent is gone
            print(json.dumps(await run(float(line[1]))), flush=True)


Setup = tuple[AgentRef, AgentHost, Requester, Metrics | None]
"""An agent, its requester and the requester's metrics (the agent's: ``host.metrics``)."""


async def _setup(stack: AsyncExitStack, broker_url: str, label: str, *, metrics: bool,
                 scrape: bool) -> Setup:
    """One agent (``BenchExecutor``) and its requester on the broker, entered into
    ``stack``; with ``metrics``, both instrumented, and with ``scrape`` the agent's
    /metrics port open."""
    ref = AgentRef("bench", "observability", f"{label}-{uuid.uuid4().hex[:6]}")
    host = await stack.enter_async_context(AgentHost([AgentConfig(
        ref=ref, card=bench_card(), executor=BenchExecutor(),
        connection=ConnectionSettings(url=broker_url), session_expiry=0,
        watch_broker_drops=False)], observability=ObservabilityConfig(
            metrics=metrics, http_port=0 if scrape else None)))
    client_metrics = Metrics(service=f"bench-client-{label}") if metrics else None
    requester = await stack.enter_async_context(Requester(RequesterConfig(
        connection=ConnectionSettings(url=broker_url), org="bench",
        unit=f"clients-{ref.name}", max_attempts=1, reply_first_timeout=30.0),
        metrics=client_metrics))
    return ref, host, requester, client_metrics


async def window(requester: Requester, ref: AgentRef, seconds: float, name: str, *,
                 scrape: str | None = None, http: httpx.AsyncClient | None = None
                 ) -> dict[str, float]:
    """Unary SendMessage calls to ``ref`` at 100 in flight for ``seconds`` (scraping
    ``scrape``'s /metrics meanwhile): what completes within the window and the CPU
    spent in it. Calls still in flight at its end finish outside it, uncounted
    (counting them would quantize a slow run's figure in waves of 100)."""
    latencies: list[float] = []
    closed: dict[str, float] = {}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            result = await requester.call(ref, "SendMessage", _params())
            latencies.append(time.perf_counter() - start)
            if result["task"]["status"]["state"] != "TASK_STATE_COMPLETED":
                raise RuntimeError(f"{name}: unexpected result {result}")

    async def close_window() -> None:
        await asyncio.sleep(seconds)
        closed.update(cpu=_cpu(), own=time.process_time(), wall=time.perf_counter(),
                      gc=_GC.total, waited=_waited(), done=len(latencies))

    scraper = None
    if scrape is not None and http is not None:
        scraper = asyncio.create_task(_scraper(scrape, http), name="bench.scraper")
    cpu, own, start, gc_start, waited = (_cpu(), time.process_time(),
                                         time.perf_counter(), _GC.total, _waited())
    closer = asyncio.create_task(close_window(), name="bench.window")
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    await closer
    if scraper is not None:
        scraper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scraper
    done = int(closed["done"])
    return {"done": done, "rps": done / (closed["wall"] - start),
            "cpu_ms_per_req": (closed["cpu"] - cpu) * 1000 / max(1, done),
            "self_cpu_ms_per_req": (closed["own"] - own) * 1000 / max(1, done),
            "gc_us_per_req": (closed["gc"] - gc_start) * 1e6 / max(1, done),
            "wait_us_per_req": (closed["waited"] - waited) * 1e6 / max(1, done),
            "p50_ms": median(latencies[:done]) * 1000}


MIXED: tuple[str, ...] = ("off", "metrics", "tracing-100", "tracing-1")
"""The setups :func:`serve_mixed` hosts in one process."""


async def serve_mixed(broker_url: str, sink_url: str) -> None:
    """``off``, ``metrics``, ``tracing-100`` and ``tracing-1`` in one process, each its
    own agent and requester (the two tracing modes share one, with tracers of their
    own), driven one at a time: ``run SECONDS MODE``. Windows of different
    setups a second apart on the same process, heap and core see the same machine,
    which on this shared host changes speed by a quarter from one window to the next
    (docs/performance.md, Tracing, session 13). ``off`` and ``metrics`` are built
    before tracing is configured, so their executors are unwrapped, as in a process
    without tracing; during their windows the process has no tracer (``use_tracer``),
    so no span is made and no ``traceparent`` written, as with tracing off."""
    from a2a_mqtt.observability import tracing

    async with AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        setups, tracers, _handle = await mixed_setups(stack, broker_url, sink_url,
                                                      label="mixed", scrape=True)

        async def run(seconds: float, mode: str) -> dict[str, float]:
            ref, host, requester, _ = setups[mode]
            tracing.use_tracer(tracers.get(mode))
            try:
                return await window(requester, ref, seconds, mode, http=http,
                                    scrape=host.metrics_url if mode == "metrics" else None)
            finally:
                tracing.use_tracer(None)

        for mode in MIXED:
            await run(1.0, mode)  # warm-up: connections, imports, caches
        print("ready", flush=True)
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if len(line) != 3 or line[0] != "run":
                return  # "quit", or the parent is gone
            print(json.dumps(await run(float(line[1]), line[2])), flush=True)


async def mixed_setups(stack: AsyncExitStack, broker_url: str, sink_url: str, *,
                       label: str, scrape: bool
                       ) -> tuple[dict[str, Setup], dict[str, Any], Any]:
    """The setups of :data:`MIXED` (entered into ``stack``), the tracer of each tracing
    mode and the tracing handle; ``scrape``: the metrics agent's /metrics port open.
    ``off`` and ``metrics`` are built before tracing is configured (their executors
    unwrapped); the process is left with no tracer (``use_tracer(None)``)."""
    from a2a_mqtt.observability import tracing

    setups = {mode: await _setup(stack, broker_url, f"{label}-{mode}", metrics=metrics,
                                 scrape=scrape and metrics)
              for mode, metrics in (("off", False), ("metrics", True))}
    handle = tracing.configure_tracing(tracing.TracingConfig(
        endpoint=sink_url, sample_ratio=1.0, service_name=f"bench-{label}"))
    assert handle is not None
    stack.callback(handle.shutdown)
    tracers = {"tracing-100": tracing.tracer(), "tracing-1": _one_percent(handle)}
    setups["tracing-100"] = setups["tracing-1"] = await _setup(
        stack, broker_url, f"{label}-tracing", metrics=False, scrape=False)
    tracing.use_tracer(None)
    return setups, tracers, handle


def _one_percent(handle: Any) -> Any:
    """A second lean tracer on the same export process, as ``configure_tracing`` builds
    its own at a sample ratio of 0.01 (a process has one configuration)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from a2a_mqtt.observability.leanspan import LeanTracer

    processor = handle.processor
    ri, si = processor.register(Resource.create({SERVICE_NAME: "bench-mixed-1"}),
                                InstrumentationScope("a2a_mqtt", "bench"))
    root = TraceIdRatioBased(0.01)
    # A --baseline tree from before session 14 has no root_ratio.
    said = ({"root_ratio": root} if "root_ratio" in inspect.signature(LeanTracer).parameters
            else {})
    return LeanTracer(sampler=ParentBased(root), id_generator=RandomIdGenerator(),
                      limits=SpanLimits(), sink=processor.on_end_row, resource_index=ri,
                      scope_index=si, parent_decides=True, roots_sampled=False, **said)
