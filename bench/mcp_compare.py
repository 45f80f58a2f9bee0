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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client

from a2a_mqtt._uvicorn import EmbeddedUvicorn
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess
from a2a_mqtt.broker.config import free_port
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import McpClientConfig, McpMqttTransport
from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    Stats,
    bench_parser,
    drive,
    finish_args,
    markdown_table,
    median,
    ratio,
    summarize,
    write_json,
)
from harness.runner import rotated

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
    counter = iter(range(1_000_000_000))

    async def add() -> None:
        i = next(counter)
        result = await session.call_tool("add", {"a": i, "b": 1})
        if result.is_error or result.structured_content != {"result": i + 1}:
            raise RuntimeError(f"add({i}, 1) answered {result}")

    for i in range(20):  # warm-up
        await session.call_tool("add", {"a": i, "b": 1})
    latencies, seconds, errors = await drive(add, total, in_flight)
    return summarize(latencies, seconds, errors)


async def run_once(broker_url: str, http_urls: list[str], totals: dict[int, int],
                   run: int) -> dict[str, Stats]:
    """Every transport in turn (the order rotated per run), every scenario."""
    out: dict[str, Stats] = {}
    opens: dict[str, Callable[[], Any]] = {
        "mqtt": lambda: mqtt_session(broker_url), "http": lambda: http_session(http_urls[0]),
        "http-json": lambda: http_session(http_urls[1])}
    for variant in rotated(VARIANTS, run):
        async with opens[variant]() as session:
            for in_flight in SCENARIOS:
                out[f"{variant}@{in_flight}"] = await measure(session, in_flight,
                                                              totals[in_flight])
    return out


def main() -> None:
    parser = bench_parser(__doc__, quick="1 run, 100 / 500 calls (smoke test)")
    parser.add_argument("--seq-n", type=int, default=500, help="calls at 1 in flight")
    parser.add_argument("--conc-n", type=int, default=3000, help="calls at 50 in flight")
    parser.add_argument("--serve", metavar="BROKER_URL", help=argparse.SUPPRESS)
    args = finish_args(parser, None, runs=1, seq_n=100, conc_n=500)
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    runs = args.runs
    totals = {1: args.seq_n, 50: args.conc_n}
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
                    results.append(asyncio.run(run_once(broker.url, urls, totals, run + 1)))
                    print(f"run {run + 1}/{runs} done", file=sys.stderr)
                finally:
                    assert server.stdin is not None
                    server.stdin.close()
                    server.wait(timeout=30)
                    if server.stdout is not None:
                        server.stdout.close()
        finally:
            broker.stop()
    figures = report(results, runs, totals)
    if args.json:
        write_json("mcp_compare", figures, args.json)


def report(results: list[dict[str, Stats]], runs: int, totals: dict[int, int]) -> dict[str, Any]:
    """Medians over runs per (scenario, transport); ratios MQTT / HTTP."""

    def med(key: str, field: str) -> float:
        return median([getattr(r[key], field) for r in results])

    rows = [
        {"in flight": k, "transport": v, "calls": totals[k], "p50 ms": med(f"{v}@{k}", "p50_ms"),
         "p99 ms": med(f"{v}@{k}", "p99_ms"), "calls/s": med(f"{v}@{k}", "rps"),
         "errors": sum(r[f"{v}@{k}"].errors for r in results)}
        for k in SCENARIOS for v in VARIANTS
    ]
    print(f"\nMCP tools/call 'add', one ClientSession per transport; medians of {runs} run(s)")
    print("(shared, noisy machine: compare ratios, not absolutes)\n")
    print(markdown_table([("in flight", "d"), ("transport", ""), ("calls", "d"),
                          ("p50 ms", ".2f"), ("p99 ms", ".2f"), ("calls/s", ",.0f"),
                          ("errors", "d")], rows))
    print("\nratios MQTT / HTTP (p50 < 1 is faster; throughput > 1 is faster)")
    ratios = {}
    for base in ("http", "http-json"):
        for k in SCENARIOS:
            p50 = ratio(med(f"mqtt@{k}", "p50_ms"), med(f"{base}@{k}", "p50_ms"))
            rps = ratio(med(f"mqtt@{k}", "rps"), med(f"{base}@{k}", "rps"))
            ratios[f"vs {base} {k} in flight"] = {"p50": p50, "throughput": rps}
            print(f"  vs {base:<9} {k:>2} in flight: p50 x{p50 or float('nan'):.2f}, "
                  f"throughput x{rps or float('nan'):.2f}")
    return {"medians": rows, "ratios": ratios}


if __name__ == "__main__":
    main()
