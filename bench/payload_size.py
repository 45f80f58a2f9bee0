"""SendMessage cost by message size: 100 B, 10 kB and 100 kB of text, side by side.

Usage::

    python bench/payload_size.py            # 3 runs, 300 requests per cell
    python bench/payload_size.py --quick    # 1 run, 50 requests (smoke test)

One private Mosquitto, one ``AgentServer`` running ``BenchExecutor`` (which echoes
the text back as an artifact, so the reply is as big as the request) and one
``A2AMqttClient`` in this process, unary SendMessage at QoS 1, 1 and 10 in flight.
The sizes run in rotated order every run; figures are medians over runs, CPU is
this process's (agent and client together) per request. This file is also the
example of docs/performance.md's "Writing a benchmark": everything but the
variants and the one request comes from ``bench/harness``.
"""

from __future__ import annotations

import asyncio
import uuid

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

prefer_a2a_sdk_spans_off()  # as an a2a-mqtt process does, before a2a-sdk is imported
# ruff: noqa: E402 - every import below comes after that start-up decision
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.server import AgentConfig, AgentServer
from harness import (
    CpuMeter,
    bench_parser,
    drive,
    finish_args,
    markdown_table,
    median_rows,
    side_by_side,
    summarize,
    write_json,
)
from harness.agent import BenchExecutor, bench_card
from harness.procs import private_broker

SIZES = {"100 B": 100, "10 kB": 10_000, "100 kB": 100_000}
IN_FLIGHT = (1, 10)


async def measure(url: str, size: str, run: int, n: int) -> list[dict[str, object]]:
    """One run of one size: a fresh agent and client, a warm-up, then each scenario."""
    ref = AgentRef("bench", "size", f"echo-{uuid.uuid4().hex[:8]}")
    text = "x" * SIZES[size]
    connection = ConnectionSettings(url=url)
    agent = AgentConfig(ref=ref, card=bench_card(), executor=BenchExecutor(),
                        connection=connection, session_expiry=0)
    async with AgentServer(agent), A2AMqttClient(RequesterConfig(connection=connection),
                                                 discover=False) as client:
        transport = client.transport_for(ref, card=bench_card())

        async def send() -> None:
            response = await transport.send_message(SendMessageRequest(message=Message(
                message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)])))
            assert response.task.artifacts[0].parts[0].text == text

        await drive(send, min(20, n), 5)  # warm-up
        rows: list[dict[str, object]] = []
        for k in IN_FLIGHT:
            cpu = CpuMeter({"process": None})
            cpu.start()
            latencies, seconds, errors = await drive(send, n, k)
            stats = summarize(latencies, seconds, errors)
            rows.append({"size": size, "in flight": k, "run": run, **vars(stats),
                         "cpu_ms": cpu.per_request(stats.n + errors)["process"]})
        return rows


async def main() -> None:
    parser = bench_parser(__doc__, quick="1 run, 50 requests per cell")
    parser.add_argument("-n", type=int, default=300, help="requests per cell")
    args = finish_args(parser, None, runs=1, n=50)
    async with private_broker() as broker:
        results = await side_by_side(
            list(SIZES), args.runs, lambda size, run: measure(broker.url, size, run, args.n))
    rows = median_rows(results, ("in flight", "size"), ("rps", "p50_ms", "p99_ms", "cpu_ms"))
    rows.sort(key=lambda r: (r["in flight"], list(SIZES).index(r["size"])))
    print(f"Medians of {args.runs} run(s), {args.n} requests per cell:")
    print(markdown_table([("in flight", "d"), ("size", ""), ("req/s", ",.0f", "rps"),
                          ("p50 ms", ".2f"), ("p99 ms", ".2f"), ("CPU ms/req", ".2f", "cpu_ms"),
                          ("errors", "d")], rows))
    print(f"results: {write_json('payload_size', {'medians': rows, 'runs': results}, args.json)}")


if __name__ == "__main__":
    asyncio.run(main())
