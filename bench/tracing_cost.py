"""What tracing costs, side by side in one run: tracing off against tracing on.

Usage::

    python bench/tracing_cost.py            # 3 rounds, 400 requests per cell
    python bench/tracing_cost.py --quick    # 1 round, 100 requests (smoke test)

Each round runs every variant in turn (order rotated per round) on one broker,
with a real ``AgentServer`` (``BenchExecutor``) and a real requester
(``transport_for(ref).send_message``, unary, QoS 1) in this process, at 1 and
100 requests in flight after a warm-up. Tracing variants export over OTLP/HTTP
to a sink process (it reads each POST and answers 200), so the export's
encoding and sending are in the figures; requester and agent both trace (three
spans per request: the call, the agent's handling, the executor).

a2a-sdk's own spans are fixed when a2a-sdk is imported, so the variants with
them on (``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=true``) run in a child process,
one round at a time between this process's rounds; their ratios are against this
process's "off". Medians over rounds.

bench/observability_cost.py is the main tracing figure (tracing-100, tracing-1,
with and without metrics, head to head); this script keeps the a2a-sdk spans
comparison. :func:`tracing_on` is a tracing setup for other benchmarks: a context
manager factory that turns tracing on at a sample ratio, exporting to a sink
process, and off on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, contextmanager
from typing import Any

# a2a_mqtt's default for a2a-sdk's spans (off) unless the parent asked for them.
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

from _common import BENCH_TEXT, BenchExecutor, bench_card, median, summarize
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import EmbeddedBroker
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.observability.tracing import TracingConfig, configure_tracing
from a2a_mqtt.server import AgentConfig, AgentServer
from obs_bench.stage import SINK

REF = AgentRef("bench", "obs", "echo")
CELLS = ("1 in flight", "100 in flight")

#: name -> sample ratio (None: tracing off). Variants of this process.
VARIANTS: dict[str, float | None] = {
    "off": None,
    "tracing 100%": 1.0,
    "tracing 1%": 0.01,
}
#: Variants of the child process (a2a-sdk spans on).
SDK_VARIANTS: dict[str, float | None] = {
    "a2a-sdk spans, tracing off": None,
    "a2a-sdk spans, tracing 100%": 1.0,
}

def tracing_on(ratio: float) -> Callable[[], AbstractContextManager[None]]:
    """A factory of context managers: inside, this process traces at ``ratio``
    (agents started inside wrap their executors; requesters inject), exporting over
    OTLP/HTTP to a sink process started for the block; on exit, the spans left are
    exported and tracing is off again."""

    @contextmanager
    def on() -> Iterator[None]:
        sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE,
                                text=True)
        try:
            assert sink.stdout is not None
            url = f"http://127.0.0.1:{sink.stdout.readline().strip()}/v1/traces"
            handle = configure_tracing(TracingConfig(endpoint=url, sample_ratio=ratio,
                                                     service_name="bench"))
            try:
                yield
            finally:
                if handle is not None:
                    handle.shutdown()
        finally:
            sink.terminate()
            sink.wait()

    return on


def _request() -> SendMessageRequest:
    return SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=BENCH_TEXT)]))


async def _measure(send: Callable[[], Awaitable[Any]], n: int,
                   in_flight: int) -> dict[str, float]:
    latencies: list[float] = []
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            started = time.perf_counter()
            await send()
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    async with asyncio.timeout(300):
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    cpu_ms = (time.process_time() - cpu) * 1000 / n
    stats = summarize(latencies, time.perf_counter() - started)
    return {"p50_ms": stats.p50_ms, "rps": stats.rps, "cpu_ms": cpu_ms}


async def run_variant(broker_url: str, ratio: float | None, sink: str,
                      n: int) -> dict[str, dict[str, float]]:
    traced = TracingConfig() if ratio is None else TracingConfig(
        endpoint=f"{sink}/v1/traces", sample_ratio=ratio, service_name="bench")
    handle = configure_tracing(traced)  # the agent's own call (its config) is then a no-op
    connection = ConnectionSettings(url=broker_url)
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(AgentServer(AgentConfig(
                ref=REF, card=bench_card(), executor=BenchExecutor(), connection=connection,
                session_expiry=0, tracing=traced)))
            client = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
                connection=connection), discover=False))
            transport = client.transport_for(REF, card=bench_card())

            async def send() -> None:
                await transport.send_message(_request())

            await _measure(send, 50, 10)  # warm-up
            return {cell: await _measure(send, n, k) for cell, k in zip(CELLS, (1, 100),
                                                                        strict=True)}
    finally:
        if handle is not None:
            handle.shutdown()  # exports what is left, outside the measured cells


async def child(args: argparse.Namespace) -> None:
    """One round of the a2a-sdk-spans variants; prints JSON for the parent."""
    out = {}
    async with EmbeddedBroker() as broker:
        for name, ratio in SDK_VARIANTS.items():
            out[name] = await run_variant(broker.url, ratio, args.sink, args.requests)
    print(json.dumps(out))


def _child_round(sink: str, n: int) -> dict[str, dict[str, dict[str, float]]]:
    env = {**os.environ, "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "true"}
    done = subprocess.run([sys.executable, __file__, "--child", "--sink", sink,
                           "--requests", str(n)], env=env, capture_output=True, text=True,
                          check=True, timeout=600)
    result: dict[str, dict[str, dict[str, float]]] = json.loads(done.stdout.splitlines()[-1])
    return result


async def main(args: argparse.Namespace) -> None:
    sink_proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SINK,
                                                     stdout=asyncio.subprocess.PIPE)
    try:
        assert sink_proc.stdout is not None
        sink = f"http://127.0.0.1:{(await sink_proc.stdout.readline()).decode().strip()}"
        names = list(VARIANTS)
        rounds: dict[str, list[dict[str, dict[str, float]]]] = {
            v: [] for v in [*names, *SDK_VARIANTS]}
        async with EmbeddedBroker() as broker:
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    rounds[name].append(await run_variant(broker.url, VARIANTS[name], sink,
                                                          args.requests))
                if not args.no_sdk_spans:
                    for name, cells in (await asyncio.to_thread(
                            _child_round, sink, args.requests)).items():
                        rounds[name].append(cells)
    finally:
        sink_proc.terminate()
        await sink_proc.wait()
    print(f"tracing_cost: median of {args.rounds} round(s), {args.requests} requests "
          "per cell; shared, noisy 2-core machine")
    print("CPU: this process's (requester, agent and span export), per request at 100 in "
          "flight; the ratios are per round (against that round's 'off'), then medians")
    print(f"{'variant':<30}" + "".join(f"{c + ' p50 ms':>22}{c + ' req/s':>22}"
                                        for c in CELLS)
          + f"{'CPU ms/req':>12}{'req/s ratio':>13}{'CPU ratio':>11}")
    off = rounds["off"]
    for name, got in rounds.items():
        if not got:
            continue
        row = f"{name:<30}"
        for cell in CELLS:
            row += f"{median([r[cell]['p50_ms'] for r in got]):>22.2f}"
            row += f"{median([r[cell]['rps'] for r in got]):>22.0f}"
        hundred = [r[CELLS[1]] for r in got]
        rps = median([h["rps"] / o[CELLS[1]]["rps"] for h, o in zip(hundred, off, strict=True)])
        cpu = median([h["cpu_ms"] / o[CELLS[1]]["cpu_ms"]
                      for h, o in zip(hundred, off, strict=True)])
        row += f"{median([h['cpu_ms'] for h in hundred]):>12.2f}"
        print(row + f"{rps:>12.2f}x{cpu:>10.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-sdk-spans", action="store_true",
                        help="Skip the child-process variants with a2a-sdk's spans on.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sink", default="", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.rounds, parsed.requests = 1, 100
    asyncio.run(child(parsed) if parsed.child else main(parsed))
