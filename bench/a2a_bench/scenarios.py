"""One (run, variant): start its server, warm up, measure every scenario."""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass

from a2a_bench.clients import (
    Client,
    EmqxClient,
    FloorClient,
    HttpAiohttpClient,
    HttpClient,
    OursClient,
)
from a2a_bench.envinfo import src_digest
from a2a_bench.settings import (
    OTEL_VAR,
    READY_TIMEOUT,
    REQUEST_TIMEOUT,
    SCENARIOS,
    SCRIPT,
    SERVER_ENV,
    STOP_TIMEOUT,
    USER_OTEL,
)
from harness.cpu import CpuMeter
from harness.drive import drive as harness_drive
from harness.procs import ChildProcess, free_port
from harness.stats import summarize

# -- server processes -----------------------------------------------------------------


class ServerProcess(ChildProcess):
    """bench/a2a_compare.py re-invoked with ``--serve``; stdin is its control line,
    EOF stops it; its READY line says whether a2a-sdk's spans are on."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(
            str(SCRIPT),
            argv,
            env=server_env(),
            ready_timeout=READY_TIMEOUT,
            stop_timeout=STOP_TIMEOUT,
        )
        self.spans: str | None = None

    async def start(self) -> str:
        ready = await super().start()
        self.spans = ready.partition("spans=")[2] or None
        return ready


def server_env() -> dict[str, str]:
    """This process's environment with the user's own a2a-sdk spans setting restored
    (the start-up decision may have set its default here), plus ``--server-env``."""
    env = dict(os.environ)
    env.pop(OTEL_VAR, None)
    if USER_OTEL is not None:
        env[OTEL_VAR] = USER_OTEL
    env.update(SERVER_ENV)
    return env


def make_variant(name: str, broker: str, deadline: float) -> tuple[ServerProcess, Client]:
    agent = f"{name.replace('-', '')}-{uuid.uuid4().hex[:8]}"
    common = ["--broker", broker, "--agent", agent, "--deadline", str(deadline)]
    if name in ("ours", "ours-sdk"):
        return ServerProcess(["--serve", name, *common]), OursClient(broker, agent)
    if name in ("http", "http-aiohttp"):
        port = free_port()
        server = ServerProcess(["--serve", "http", "--port", str(port), *common])
        client: Client = HttpClient(port) if name == "http" else HttpAiohttpClient(port)
        return server, client
    if name in ("emqx", "emqx-mc100"):
        extra = ["--max-concurrent", "100"] if name == "emqx-mc100" else []
        return ServerProcess(["--serve", "emqx", *common, *extra]), EmqxClient(broker, agent)
    if name == "floor":
        return ServerProcess(["--serve", "floor", *common]), FloorClient(broker, agent)
    raise ValueError(name)


# -- measurement ----------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    scenario: str
    run: int
    n: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_client_ms: float | None = None
    cpu_server_ms: float | None = None
    cpu_broker_ms: float | None = None
    load1: float | None = None
    """1-minute load average when the phase started (other work on the box)."""
    src: str | None = None
    """Digest of src/ when this variant's server started (others may be editing it)."""
    server_spans: str | None = None
    """a2a-sdk's OpenTelemetry spans in the server process: on, off or n/a."""


async def drive(
    client: Client, n: int, inflight: int, max_seconds: float | None = None
) -> tuple[list[float], float, int]:
    """The harness's load loop on ``client.request``: (latencies, seconds, errors)."""
    return await harness_drive(
        client.request, n, inflight, max_seconds=max_seconds, timeout=REQUEST_TIMEOUT
    )


async def measure(
    client: Client,
    *,
    server_pid: int,
    broker_pid: int | None,
    variant: str,
    scenario: str,
    run: int,
    n: int,
    inflight: int,
    max_seconds: float | None,
) -> Result:
    load1 = os.getloadavg()[0]
    meter = CpuMeter({"client": None, "server": server_pid, "broker": broker_pid or -1})
    meter.start()
    latencies, seconds, errors = await drive(client, n, inflight, max_seconds)
    cpu = meter.per_request(len(latencies) + errors)
    stats = summarize(latencies, seconds, errors)
    return Result(
        variant=variant,
        scenario=scenario,
        run=run,
        n=stats.n,
        seconds=seconds,
        rps=stats.rps,
        p50_ms=stats.p50_ms,
        p99_ms=stats.p99_ms,
        errors=errors,
        cpu_client_ms=cpu["client"],
        cpu_server_ms=cpu["server"],
        cpu_broker_ms=cpu["broker"],
        load1=load1,
    )


async def run_variant(
    name: str, broker_url: str, broker_pid: int | None, args: argparse.Namespace, run: int
) -> list[Result]:
    server, client = make_variant(name, broker_url, args.deadline)
    results: list[Result] = []
    src = src_digest()
    await server.start()
    try:
        await client.start()
        try:
            # Warm-up: sequential, then a burst at the highest concurrency (opens pools).
            await drive(client, args.warmup, 1, args.seq_max_seconds / 4)
            await drive(
                client, args.warmup, max(i for _, i in SCENARIOS), args.conc_max_seconds / 4
            )
            for scenario, inflight in SCENARIOS:
                n, cap = (
                    (args.seq_n, args.seq_max_seconds)
                    if inflight == 1
                    else (args.conc_n, args.conc_max_seconds)
                )
                results.append(
                    await measure(
                        client,
                        server_pid=server.pid,
                        broker_pid=broker_pid,
                        variant=name,
                        scenario=scenario,
                        run=run,
                        n=n,
                        inflight=inflight,
                        max_seconds=cap,
                    )
                )
        finally:
            await client.stop()
    finally:
        await server.stop()
    for result in results:
        result.src = src
        # Only the a2a-sdk based servers run DefaultRequestHandler.
        sdk_based = ("ours", "ours-sdk", "http", "http-aiohttp")
        result.server_spans = server.spans if name in sdk_based else "n/a"
    return results
