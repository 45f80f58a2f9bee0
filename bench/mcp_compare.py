"""MCP tools/call round trips, side by side: over MQTT (a2a_mqtt.mcp) vs the official
SDK's streamable-HTTP transport, the same MCPServer object behind both.

Usage::

    python bench/mcp_compare.py            # 3 runs, ~2 min; table + ratios
    python bench/mcp_compare.py --quick    # 1 small run (smoke test)

One server process (this script re-invoked with ``--serve BROKER_URL``) serves
``a2a_mqtt.mcp.example_server`` over MQTT (``McpMqttServer``, QoS 1) and over
streamable HTTP (``MCPServer.streamable_http_app()`` under uvicorn). The client
runs here: one official ``ClientSession`` per transport, initialized once, then
``tools/call add`` repeatedly: sequentially (1 in flight) and with 50 in flight.
HTTP runs twice: the SDK's default (each reply an SSE stream) and
``json_response=True`` (plain JSON replies), the fastest HTTP setting.
A fresh Mosquitto is started for the run. Figures are medians over the runs;
the machine is shared and noisy, so read ratios rather than absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client

from _common import Stats, median, summarize
from a2a_mqtt._uvicorn import EmbeddedUvicorn
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess
from a2a_mqtt.broker.config import free_port
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import McpClientConfig, McpMqttTransport
from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig

NAME = "bench/mcp-example"
SCENARIOS = (1, 50)
VARIANTS = ("mqtt", "http", "http-json")


async def serve(broker_url: str) -> None:
    app = build_example_server()
    servers, ports = [], []
    for json_response in (False, True):  # the SDK's default (SSE replies), then plain JSON
        ports.append(free_port())
        http = EmbeddedUvicorn(uvicorn.Config(app.streamable_http_app(json_response=json_response),
                                       host="127.0.0.1", port=ports[-1], log_level="warning",
                                       lifespan="on"))
        servers.append((http, asyncio.create_task(http.serve(), name="bench-http")))
        await http.listening.wait()
    config = McpServerConfig(connection=ConnectionSettings(url=broker_url), server_name=NAME,
                             server_id="bench-server")
    async with McpMqttServer(config=config, app=app):
        print(f"ready {ports[0]} {ports[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    for http, task in servers:
        http.should_exit = True
        await task


@asynccontextmanager
async def mqtt_session(broker_url: str) -> AsyncIterator[ClientSession]:
    transport = McpMqttTransport(config=McpClientConfig(
        connection=ConnectionSettings(url=broker_url), server_name=NAME))
    async with transport as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as streams, \
            ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session


async def measure(session: ClientSession, in_flight: int, total: int) -> Stats:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            t0 = time.perf_counter()
            result = await session.call_tool("add", {"a": i, "b": 1})
            latencies.append(time.perf_counter() - t0)
            if result.is_error or result.structured_content != {"result": i + 1}:
                errors += 1

    for i in range(20):  # warm-up
        await session.call_tool("add", {"a": i, "b": 1})
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return summarize(latencies, time.perf_counter() - start, errors)


async def run_once(broker_url: str, http_urls: list[str],
                   totals: dict[int, int]) -> dict[str, Stats]:
    out: dict[str, Stats] = {}
    opens: dict[str, Callable[[], Any]] = {
        "mqtt": lambda: mqtt_session(broker_url), "http": lambda: http_session(http_urls[0]),
        "http-json": lambda: http_session(http_urls[1])}
    for variant, opener in opens.items():
        async with opener() as session:
            for in_flight in SCENARIOS:
                out[f"{variant}@{in_flight}"] = await measure(session, in_flight,
                                                              totals[in_flight])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", metavar="BROKER_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    runs = 1 if args.quick else args.runs
    totals = {1: 100, 50: 500} if args.quick else {1: 500, 50: 3000}
    results: list[dict[str, Stats]] = []
    with tempfile.TemporaryDirectory() as state:
        broker = MosquittoProcess(config=BrokerConfig(state_dir=Path(state)))
        broker.start()
        try:
            for run in range(runs):
                server = subprocess.Popen([sys.executable, __file__, "--serve", broker.url],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                try:
                    assert server.stdout is not None
                    line = server.stdout.readline().decode().split()
                    if not line or line[0] != "ready":
                        raise SystemExit("the bench server did not start")
                    urls = [f"http://127.0.0.1:{port}/mcp" for port in line[1:3]]
                    results.append(asyncio.run(run_once(broker.url, urls, totals)))
                    print(f"run {run + 1}/{runs} done", file=sys.stderr)
                finally:
                    assert server.stdin is not None
                    server.stdin.close()
                    server.wait(timeout=30)
                    if server.stdout is not None:
                        server.stdout.close()
        finally:
            broker.stop()
    report(results, runs, totals)


def report(results: list[dict[str, Stats]], runs: int, totals: dict[int, int]) -> None:
    def med(key: str, field: str) -> float:
        return median([getattr(r[key], field) for r in results])

    print(f"\nMCP tools/call 'add', one ClientSession per transport; medians of {runs} run(s)")
    print("(shared, noisy machine: compare ratios, not absolutes)\n")
    print(f"{'in flight':>9} {'transport':>10} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'calls/s':>9} {'errors':>6}")
    for in_flight in SCENARIOS:
        for variant in VARIANTS:
            key = f"{variant}@{in_flight}"
            print(f"{in_flight:>9} {variant:>10} {totals[in_flight]:>6} "
                  f"{med(key, 'p50_ms'):>8.2f} {med(key, 'p99_ms'):>8.2f} "
                  f"{med(key, 'rps'):>9.0f} {int(med(key, 'errors')):>6}")
    print("\nratios MQTT / HTTP (p50 < 1 is faster; throughput > 1 is faster)")
    for base in ("http", "http-json"):
        for in_flight in SCENARIOS:
            p50 = med(f"mqtt@{in_flight}", "p50_ms") / med(f"{base}@{in_flight}", "p50_ms")
            rps = med(f"mqtt@{in_flight}", "rps") / med(f"{base}@{in_flight}", "rps")
            print(f"  vs {base:<9} {in_flight:>2} in flight: p50 x{p50:.2f}, "
                  f"throughput x{rps:.2f}")


if __name__ == "__main__":
    main()
