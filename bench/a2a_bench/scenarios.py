"""One (run, variant): start its server, warm up, measure every scenario."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import sys
import time
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
from a2a_bench.envinfo import _src_digest
from a2a_bench.settings import (
    OTEL_VAR,
    READY_TIMEOUT,
    REQUEST_TIMEOUT,
    SCENARIOS,
    SCRIPT,
    SERVER_ENV,
    STOP_TIMEOUT,
    USER_OTEL,
    log,
)
from harness.cpu import proc_cpu_seconds
from harness.stats import summarize

# -- server processes -----------------------------------------------------------------


class ServerProcess:
    """This script re-invoked with ``--serve``; stdin is its control line, EOF stops it."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self.spans: str | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=_server_env(),
        )
        ready = await self.expect("READY", READY_TIMEOUT)
        self.spans = ready.partition("spans=")[2] or None

    async def expect(self, word: str, timeout: float) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.proc.stdout.readline()).decode().strip()
                if not line:
                    raise RuntimeError(f"server {self.argv} exited before {word}")
                if line == word or line.startswith(word + " "):
                    return line

    async def command(self, line: str, expect: str) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        await self.expect(expect, 60.0)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)


def _server_env() -> dict[str, str]:
    """This process's environment with the user's own a2a-sdk spans setting restored
    (the start-up decision may have set its default here), plus ``--server-env``."""
    env = dict(os.environ)
    env.pop(OTEL_VAR, None)
    if USER_OTEL is not None:
        env[OTEL_VAR] = USER_OTEL
    env.update(SERVER_ENV)
    return env


def _free_port() -> int:
    from a2a_mqtt.broker import free_port

    return free_port()


def make_variant(name: str, broker: str, deadline: float) -> tuple[ServerProcess, Client]:
    agent = f"{name.replace('-', '')}-{uuid.uuid4().hex[:8]}"
    common = ["--broker", broker, "--agent", agent, "--deadline", str(deadline)]
    if name == "ours":
        return ServerProcess(["--serve", "ours", *common]), OursClient(broker, agent)
    if name in ("http", "http-aiohttp"):
        port = _free_port()
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


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(
    client: Client, n: int, inflight: int, max_seconds: float | None = None
) -> tuple[list[float], float, int]:
    """``n`` requests with ``inflight`` workers, or fewer if ``max_seconds`` runs out
    (no new request starts after it); (latencies, seconds, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = itertools.count()
    stop_at = time.perf_counter() + max_seconds if max_seconds else float("inf")

    async def worker() -> None:
        nonlocal errors
        while next(remaining) < n and time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await client.request()
            except Exception as exc:
                errors += 1
                if errors <= 3:
                    log.warning("request failed: %r", exc)
                continue
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return latencies, time.perf_counter() - start, errors


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
    cpu0 = (
        _self_cpu(),
        proc_cpu_seconds(server_pid),
        proc_cpu_seconds(broker_pid) if broker_pid else None,
    )
    latencies, seconds, errors = await drive(client, n, inflight, max_seconds)
    cpu1 = (
        _self_cpu(),
        proc_cpu_seconds(server_pid),
        proc_cpu_seconds(broker_pid) if broker_pid else None,
    )
    done = max(1, len(latencies) + errors)

    def per_req(i: int) -> float | None:
        a, b = cpu0[i], cpu1[i]
        return None if a is None or b is None else (b - a) * 1000 / done

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
        cpu_client_ms=per_req(0),
        cpu_server_ms=per_req(1),
        cpu_broker_ms=per_req(2),
        load1=load1,
    )


async def run_variant(
    name: str, broker_url: str, broker_pid: int | None, args: argparse.Namespace, run: int
) -> list[Result]:
    server, client = make_variant(name, broker_url, args.deadline)
    results: list[Result] = []
    src = _src_digest()
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
        result.server_spans = server.spans if name in ("ours", "http", "http-aiohttp") else "n/a"
    return results
