"""What observability costs: the same agent with metrics off and on, side by side in one run.

Usage::

    python bench/observability_cost.py            # 3 rounds
    python bench/observability_cost.py --quick    # 1 small round (smoke test)

One Mosquitto; one agent per variant (each in its own AgentHost, ``BenchExecutor``),
one requester per variant; unary SendMessage through ``Requester.call`` at 100 in
flight (and 1 in flight for latency). Agent, requester and scraper share this
process, so every microsecond spent recording shows up in throughput and in the CPU
per request (``time.process_time``, all threads of the process).

Variants (``VARIANTS``; rounds interleave them, so drift hits all alike):

* ``off``: ``ObservabilityConfig(metrics=False)`` on the host, no requester metrics;
* ``metrics``: agent and requester metrics on, ``/metrics`` served on a port and
  scraped over HTTP every 5 s during the run (Prometheus' default is 15 s);
* ``metrics-no-http``: the same instruments, no port, no scrapes (an agent that
  pushes over OTLP, or whose metrics nobody reads): the recording alone;
* ``tracing-100``, ``tracing-1``: metrics as ``metrics`` plus tracing at 100 % and
  1 % sampling (``tracing_on`` of bench/tracing_cost.py, exporting to a sink process);
  head to head only, since tracing is process-wide and set up before the agent starts.

Target: ``metrics`` costs <= 5 % of ``off`` throughput at 100 in flight. The
machine is shared: read the ratios within one run, never absolute numbers. Each round
runs every variant back to back, so the per-round ratio (variant / off) is paired;
the report gives the median of those ratios besides the medians of the figures.
Then each variant runs head to head with ``off``: two processes at once on the same
broker, 100 in flight each, and the ratio of their completions is taken. Both see the
same load at the same moment and the OS shares the CPU between them: the most robust
figure on a loaded machine. (Two variants on one event loop would not do: the loop
serves both in turn, so they complete alike whatever each costs.)
Last, it times the recording itself (no I/O): what one agent request and one
requester call add in CPU microseconds, a figure that does not depend on the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

# As the a2a-mqtt command does at start-up, before a2a-sdk is imported: its per-method
# spans off (they double the CPU per request; a tracing variant turns tracing on itself).
prefer_a2a_sdk_spans_off()

from _common import BENCH_TEXT, BenchExecutor, Stats, bench_card, median, summarize  # noqa: E402
from a2a_mqtt.binding.topics import AgentRef  # noqa: E402
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess  # noqa: E402
from a2a_mqtt.client import Requester, RequesterConfig  # noqa: E402
from a2a_mqtt.connection import ConnectionSettings  # noqa: E402
from a2a_mqtt.observability.config import ObservabilityConfig  # noqa: E402
from a2a_mqtt.observability.metrics import Metrics  # noqa: E402
from a2a_mqtt.server import AgentConfig  # noqa: E402
from a2a_mqtt.server.host import AgentHost  # noqa: E402


def _tracing(ratio: float) -> Callable[[], contextlib.AbstractContextManager[None]] | None:
    """The tracing variant's setup: ``tracing_on(ratio)`` of bench/tracing_cost.py (the
    process traces at ``ratio``, exporting over OTLP/HTTP to a sink process), or None
    when the tracing extra is not installed."""
    try:
        from tracing_cost import tracing_on
    except ImportError:
        return None
    return tracing_on(ratio)


@dataclass
class Spec:
    name: str
    metrics: bool
    scrape: bool
    tracing: Callable[[], contextlib.AbstractContextManager[None]] | None = None
    available: bool = True


VARIANTS: list[Spec] = [
    Spec("off", metrics=False, scrape=False),
    Spec("metrics", metrics=True, scrape=True),
    Spec("metrics-no-http", metrics=True, scrape=False),
    Spec("tracing-100", metrics=True, scrape=True, tracing=_tracing(1.0),
         available=_tracing(1.0) is not None),
    Spec("tracing-1", metrics=True, scrape=True, tracing=_tracing(0.01),
         available=_tracing(0.01) is not None),
]


def _params() -> dict[str, Any]:
    return {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                        "parts": [{"text": BENCH_TEXT}], "taskId": str(uuid.uuid4()),
                        "contextId": str(uuid.uuid4())}}


@dataclass
class Variant:
    spec: Spec
    requester: Requester
    agent: AgentRef
    metrics_url: str
    scrapes: list[float] = field(default_factory=list)

    async def one(self) -> float:
        start = time.perf_counter()
        result = await self.requester.call(self.agent, "SendMessage", _params())
        elapsed = time.perf_counter() - start
        if result["task"]["status"]["state"] != "TASK_STATE_COMPLETED":
            raise RuntimeError(f"{self.spec.name}: unexpected result {result}")
        return elapsed


@dataclass
class Run:
    stats: Stats
    cpu_ms_per_req: float


SCRAPE_INTERVAL = 5.0
"""Seconds between two scrapes during a run (Prometheus' default is 15 s)."""


async def _scraper(url: str, http: httpx.AsyncClient, sizes: list[float]) -> None:
    while True:
        await asyncio.sleep(SCRAPE_INTERVAL)
        response = await http.get(f"{url}/metrics")
        response.raise_for_status()
        sizes.append(len(response.content))


async def measure(variant: Variant, http: httpx.AsyncClient, *, in_flight: int,
                  total: int) -> Run:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            latencies.append(await variant.one())

    scraper = None
    if variant.spec.scrape and variant.metrics_url:
        scraper = asyncio.create_task(_scraper(variant.metrics_url, http, variant.scrapes),
                                      name="bench.scraper")
    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if scraper is not None:
        scraper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scraper
    return Run(summarize(latencies, seconds), cpu * 1000 / max(1, len(latencies)))


async def build(stack: AsyncExitStack, spec: Spec, broker_url: str, run: str) -> Variant:
    """One variant: its agent host (metrics on or off) and its requester."""
    ref = AgentRef("bench", "observability", f"{spec.name}-{run}")
    obs = ObservabilityConfig(metrics=spec.metrics, http_port=0 if spec.scrape else None)
    host = await stack.enter_async_context(AgentHost([AgentConfig(
        ref=ref, card=bench_card(), executor=BenchExecutor(),
        connection=ConnectionSettings(url=broker_url), session_expiry=0,
        watch_broker_drops=False)], observability=obs))
    metrics = Metrics(service="bench-client") if spec.metrics else None
    requester = await stack.enter_async_context(Requester(RequesterConfig(
        connection=ConnectionSettings(url=broker_url), org="bench",
        unit=f"clients-{spec.name}", max_attempts=1, reply_first_timeout=30.0), metrics=metrics))
    return Variant(spec, requester, ref, host.metrics_url)


@asynccontextmanager
async def scene(tmp: Path) -> AsyncIterator[tuple[str, list[Variant]]]:
    broker = MosquittoProcess(config=BrokerConfig(state_dir=tmp / "broker"))
    broker.start()
    run = uuid.uuid4().hex[:6]
    try:
        async with AsyncExitStack() as stack:
            variants = [await build(stack, spec, broker.url, run)
                        for spec in VARIANTS if spec.available and spec.tracing is None]
            yield broker.url, variants
    finally:
        broker.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # Tracing is process-wide and wraps executors when an agent starts, so the tracing
    # variants run head to head only (each worker process traces from its start).
    results: dict[str, dict[str, list[Run]]] = {
        v.name: {"1": [], "100": []} for v in VARIANTS if v.available and v.tracing is None}
    with tempfile.TemporaryDirectory(prefix="a2a-mqtt-obsbench-") as tmp:
        async with scene(Path(tmp)) as (broker_url, variants), \
                httpx.AsyncClient(timeout=10) as http:
            for variant in variants:  # warm-up: connections, imports, caches
                await measure(variant, http, in_flight=10, total=100)
            for rnd in range(args.rounds):
                order = variants if rnd % 2 == 0 else list(reversed(variants))
                for variant in order:
                    results[variant.spec.name]["1"].append(
                        await measure(variant, http, in_flight=1, total=args.sequential))
                    results[variant.spec.name]["100"].append(
                        await measure(variant, http, in_flight=100, total=args.parallel))
                print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
            scrape_bytes = {v.spec.name: median(v.scrapes) for v in variants if v.scrapes}
            shares = await head_to_head(broker_url, rounds=args.rounds,
                                        seconds=args.head_to_head)
    out = report(results, scrape_bytes)
    out["head_to_head"] = shares
    return out


async def worker_main(name: str, broker_url: str, seconds: float) -> None:
    """One variant in its own process (head-to-head): say ready on stdout, wait for a
    line on stdin, run ``seconds`` at 100 in flight, print the count as JSON."""
    spec = next(s for s in VARIANTS if s.name == name)
    async with AsyncExitStack() as stack, httpx.AsyncClient(timeout=10) as http:
        if spec.tracing is not None:  # before the agent starts: it wraps its executor
            stack.enter_context(spec.tracing())
        variant = await build(stack, spec, broker_url, uuid.uuid4().hex[:6])
        await measure(variant, http, in_flight=10, total=100)
        print("ready", flush=True)
        if not await asyncio.to_thread(sys.stdin.readline):
            return  # the parent is gone: measure nothing
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await variant.one()
                done += 1

        scraper = None
        if spec.scrape and variant.metrics_url:
            scraper = asyncio.create_task(_scraper(variant.metrics_url, http, []),
                                          name="bench.scraper")
        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(100)))
        cpu = time.process_time() - cpu
        if scraper is not None:
            scraper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scraper
        print(json.dumps({"done": done, "cpu_ms_per_req": cpu * 1000 / max(1, done)}),
              flush=True)


async def _pair(broker_url: str, names: tuple[str, str], seconds: float) -> list[dict[str, Any]]:
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", name, "--broker", broker_url,
        "--head-to-head", str(seconds), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE) for name in names]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            if line.strip() != b"ready":
                raise RuntimeError(f"head-to-head worker failed to start: {line!r}")
        for proc in procs:  # both start measuring at the same moment
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        out = []
        for proc in procs:
            stdout, _ = await proc.communicate()
            out.append(json.loads(stdout.decode().strip().splitlines()[-1]))
        return out
    finally:
        for proc in procs:  # ours: never leave a worker behind
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def head_to_head(broker_url: str, *, rounds: int, seconds: float) -> dict[str, Any]:
    """Each variant against ``off`` at the same time, each in its own process, on the same
    broker: both see the same machine at the same moment, so load swings cancel out, and
    the OS shares the CPU between them, so a variant that costs x % more CPU per request
    completes about x % fewer requests."""
    out: dict[str, Any] = {}
    for spec in VARIANTS[1:]:
        if not spec.available:
            continue
        ratios, cpu_ratios = [], []
        for rnd in range(rounds):
            names = ("off", spec.name) if rnd % 2 == 0 else (spec.name, "off")
            results = dict(zip(names, await _pair(broker_url, names, seconds), strict=True))
            ratios.append(results[spec.name]["done"] / max(1, results["off"]["done"]))
            cpu_ratios.append(results[spec.name]["cpu_ms_per_req"]
                              / results["off"]["cpu_ms_per_req"])
        out[spec.name] = {"completions_ratio": round(median(ratios), 3),
                          "cpu_ratio": round(median(cpu_ratios), 3),
                          "rounds": [round(r, 3) for r in ratios]}
        print(f"head to head ({spec.name} vs off, two processes at once, 100 in flight each): "
              f"completions x{median(ratios):.3f}, CPU per request x{median(cpu_ratios):.3f} "
              f"(rounds {[round(r, 3) for r in ratios]})")
    return out


def recording_cost(n: int = 20_000) -> dict[str, float]:
    """CPU microseconds one request adds on each side, recording only (no I/O)."""
    from a2a_mqtt.observability.agent import AgentMetrics
    from a2a_mqtt.observability.client import ClientMetrics

    metrics = Metrics(service="bench")
    agent, client = AgentMetrics(metrics, agent="bench/o/a"), ClientMetrics(metrics)
    start = time.process_time()
    for _ in range(n):
        call = agent.begin(300)
        call.named("SendMessage")
        agent.slot_wait(0.0001)
        agent.task_state("TASK_STATE_COMPLETED")
        call.sent(600, end=True)
        call.close()
    agent_us = (time.process_time() - start) / n * 1e6
    start = time.process_time()
    for _ in range(n):
        record = client.begin("SendMessage")
        record.replied = True
        record.end(None)
    client_us = (time.process_time() - start) / n * 1e6
    start = time.process_time()
    for _ in range(50):
        metrics.render()
    render_ms = (time.process_time() - start) / 50 * 1e3
    return {"agent_us": round(agent_us, 1), "requester_us": round(client_us, 1),
            "scrape_render_ms": round(render_ms, 2)}


def report(results: dict[str, dict[str, list[Run]]],
           scrape_bytes: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = results["off"]
    base_rps = median([r.stats.rps for r in base["100"]])
    base_cpu = median([r.cpu_ms_per_req for r in base["100"]])
    print("Observability cost (medians over rounds; shared, noisy machine: read the ratios)")
    print(f"{'variant':<12} {'p50 1 ms':>9} {'rps 100':>8} {'x rps':>6} {'p50 100':>8} "
          f"{'p99 100':>8} {'CPU ms/req':>10} {'x CPU':>6} {'paired x rps':>12} "
          f"{'paired x CPU':>12}")
    for spec in VARIANTS:
        if spec.name not in results:
            print(f"{spec.name:<12} head to head only (above)" if spec.available
                  else f"{spec.name:<12} n/a (the tracing extra is not installed)")
            out[spec.name] = None
            continue
        runs = results[spec.name]
        rps = median([r.stats.rps for r in runs["100"]])
        cpu = median([r.cpu_ms_per_req for r in runs["100"]])
        paired_rps = median([r.stats.rps / b.stats.rps
                             for r, b in zip(runs["100"], base["100"], strict=True)])
        paired_cpu = median([r.cpu_ms_per_req / b.cpu_ms_per_req
                             for r, b in zip(runs["100"], base["100"], strict=True)])
        row = {"p50_1_ms": round(median([r.stats.p50_ms for r in runs["1"]]), 2),
               "rps_100": round(rps, 1), "rps_ratio": round(rps / base_rps, 3),
               "p50_100_ms": round(median([r.stats.p50_ms for r in runs["100"]]), 2),
               "p99_100_ms": round(median([r.stats.p99_ms for r in runs["100"]]), 2),
               "cpu_ms_per_req": round(cpu, 3), "cpu_ratio": round(cpu / base_cpu, 3),
               "paired_rps_ratio": round(paired_rps, 3),
               "paired_cpu_ratio": round(paired_cpu, 3),
               "rounds_rps_100": [round(r.stats.rps, 1) for r in runs["100"]],
               "scrape_bytes": scrape_bytes.get(spec.name)}
        out[spec.name] = row
        print(f"{spec.name:<12} {row['p50_1_ms']:>9.2f} {rps:>8.0f} {row['rps_ratio']:>6.3f} "
              f"{row['p50_100_ms']:>8.2f} {row['p99_100_ms']:>8.2f} {cpu:>10.3f} "
              f"{row['cpu_ratio']:>6.3f} {paired_rps:>12.3f} {paired_cpu:>12.3f}")
    cost = recording_cost()
    out["recording"] = cost
    print(f"recording alone (no I/O): agent {cost['agent_us']} us/request, requester "
          f"{cost['requester_us']} us/call, one /metrics render {cost['scrape_render_ms']} ms; "
          f"off spends {base_cpu * 1000:.0f} us of CPU per request")
    print("target: metrics throughput at 100 in flight >= 0.95x off")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=1000)
    parser.add_argument("--head-to-head", type=float, default=6.0,
                        help="Seconds of each simultaneous off-vs-variant round.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--broker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    ns = parser.parse_args()
    if ns.quick:
        ns.rounds, ns.sequential, ns.parallel, ns.head_to_head = 1, 30, 300, 2.0
    if ns.worker is not None:
        asyncio.run(worker_main(ns.worker, ns.broker, ns.head_to_head))
        sys.exit(0)
    figures = asyncio.run(main(ns))
    if ns.json is not None:
        ns.json.write_text(json.dumps(figures, indent=2))
