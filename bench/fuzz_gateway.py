"""Gateway fuzz, the long run: N malformed requests across JSON-RPC, HTTP+JSON and SSE.

Real parts, each its own process: Mosquitto on a free port, the showcase agent
(it echoes plain text) and the gateway, both started through the CLI
(``a2a-mqtt gateway showcase`` / ``a2a-mqtt gateway --max-body 65536``). This
process is only the HTTP client.

The requests and the rule are the property tests' own
(``tests/behaviour/gateway/hostile.py``): hypothesis draws them in batches of
``--batch`` (seeded per batch, so a run is reproducible), ``--concurrency``
are in flight, and after every batch a health check sends a valid SendMessage
over JSON-RPC and over HTTP+JSON and reads ``/healthz``.

Prints: answers by status, 5xx (must be 0), answers lacking the standard error
(must be 0), health checks passed, requests per family, and the gateway's RSS
and open file descriptors after the first batch and at the end (bounded
memory, no leaked connections or streams). Exit status 1 if any rule broke.

    .venv/bin/python bench/fuzz_gateway.py --requests 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.behaviour...hostile

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from tests.behaviour.gateway.hostile import (
    MAX_BODY,
    Answer,
    Hostile,
    hostile_requests,
    judge,
    send,
    valid_requests,
)

from a2a_mqtt.broker import BrokerConfig, MosquittoProcess
from harness.memory import open_fds, rss_kib  # bench/ is the script's directory

AGENT = "demo/examples/showcase"
CLI = [sys.executable, "-m", "a2a_mqtt.cli.main"]


def draw_batch(count: int, batch_seed: int) -> list[Hostile]:
    """``count`` requests drawn by hypothesis, reproducibly from ``batch_seed``."""
    drawn: list[Hostile] = []

    @seed(batch_seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hostile_requests())
    def collect(request: Hostile) -> None:
        drawn.append(request)

    collect()
    return drawn[:count]


def proc_status(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of ``pid``."""
    return rss_kib(pid) or 0, open_fds(pid) or 0


class Tally:
    def __init__(self) -> None:
        self.status: Counter[int] = Counter()
        self.families: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()
        self.examples: dict[str, Hostile] = {}
        self.server_errors = 0
        self.lacking = 0
        self.transport_errors = 0

    def add(self, request: Hostile, answer: Answer | None, problem: str | None) -> None:
        self.families[f"{request.surface}:{request.family}"] += 1
        if answer is None:
            self.transport_errors += 1
            self.problems[problem or "no answer"] += 1
            return
        self.status[answer.status] += 1
        if answer.status >= 500:
            self.server_errors += 1
        elif problem is not None:
            self.lacking += 1
        if problem is not None:
            key = f"{request.family}: {problem}"
            self.problems[key] += 1
            self.examples.setdefault(key, request)


async def start_process(*argv: str) -> asyncio.subprocess.Process:
    """The CLI in a child process (its stdout is a pipe: the gateway prints its URL)."""
    return await asyncio.create_subprocess_exec(
        *CLI, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)


async def first_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        return (await proc.stdout.readline()).decode().strip()


async def stop_process(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(20):
            return await proc.wait()
    except TimeoutError:
        proc.kill()
        return await proc.wait()


async def health(http: httpx.AsyncClient, gw: str, agent_url: str) -> bool:
    try:
        for request in valid_requests():
            answer = await send(http, gw, agent_url, request)
            data = json.loads(answer.body)
            task = data["result"]["task"] if request.jsonrpc else data["task"]
            if answer.status != 200 or task["status"]["state"] != "TASK_STATE_COMPLETED":
                return False
        r = await http.get(f"{gw}/healthz")
        return r.status_code == 200 and r.json()["status"] == "ok"
    except (httpx.HTTPError, ValueError, KeyError):
        return False


async def abandon_streams(http: httpx.AsyncClient, agent_url: str, count: int,
                          sem: asyncio.Semaphore) -> int:
    """Open ``count`` long SSE streams (both bindings), read one event, drop the connection.

    Returns how many streams sent no first event (0: every one was opened, then left).
    Whether the gateway let go shows in its open file descriptors and RSS afterwards.
    """
    failed = 0
    headers = {"A2A-Version": "1.0", "Accept": "text/event-stream"}

    async def one(i: int) -> None:
        nonlocal failed
        message = {"messageId": f"abandon-{i}", "role": "ROLE_USER",
                   "parts": [{"text": "chunks 100"}]}
        url, body = ((agent_url, {"jsonrpc": "2.0", "id": i, "method": "SendStreamingMessage",
                                  "params": {"message": message}}) if i % 2 else
                     (f"{agent_url}/rest/message:stream", {"message": message}))
        # A client of its own per stream: closing it closes the TCP connection.
        async with sem, httpx.AsyncClient(timeout=30.0) as own, \
                own.stream("POST", url, json=body, headers=headers) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    return
        failed += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return failed


async def run(args: argparse.Namespace) -> int:
    tally = Tally()
    checks_passed = checks = 0
    with tempfile.TemporaryDirectory() as state:
        broker = MosquittoProcess(config=BrokerConfig(state_dir=Path(state)))
        broker.start()
        agent = gateway = None
        try:
            agent = await start_process("gateway", "showcase", "--broker", broker.url,
                                           "--agent", AGENT)
            gateway = await start_process("gateway", "--broker", broker.url, "--port", "0",
                                             "--max-body", str(MAX_BODY))
            gw = await first_line(gateway)
            if not gw.startswith("http://"):
                raise RuntimeError(f"the gateway did not start: {gw!r}")
            agent_url = f"{gw}/{AGENT}"
            limits = httpx.Limits(max_connections=args.concurrency * 2)
            async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
                for _ in range(300):  # the gateway learns the card by discovery
                    if await health(http, gw, agent_url):
                        break
                    await asyncio.sleep(0.2)
                else:
                    raise RuntimeError("the gateway never served the agent")
                sem = asyncio.Semaphore(args.concurrency)

                async def one(request: Hostile) -> None:
                    async with sem:
                        try:
                            answer = await send(http, gw, agent_url, request)
                        except httpx.HTTPError as exc:
                            tally.add(request, None, f"transport: {type(exc).__name__}")
                            return
                        tally.add(request, answer, judge(request, answer))

                started = time.monotonic()
                warm: tuple[int, int] | None = None
                done, batch_no = 0, 0
                while done < args.requests:
                    count = min(args.batch, args.requests - done)
                    batch = draw_batch(count, args.seed + batch_no)
                    await asyncio.gather(*(one(r) for r in batch))
                    done += len(batch)
                    batch_no += 1
                    checks += 1
                    checks_passed += await health(http, gw, agent_url)
                    if warm is None:
                        warm = proc_status(gateway.pid)
                    if args.progress:
                        print(f"  {done} sent, {tally.server_errors} 5xx, "
                              f"{tally.lacking} lacking", file=sys.stderr)
                elapsed = time.monotonic() - started
                after_fuzz = proc_status(gateway.pid)
                left = await abandon_streams(http, agent_url, args.abandon, sem)
                checks += 1
                checks_passed += await health(http, gw, agent_url)
                end = proc_status(gateway.pid)
        finally:
            codes = [await stop_process(p) for p in (gateway, agent) if p is not None]
            broker.stop()
    report(args, tally, checks=checks, passed=checks_passed, elapsed=elapsed,
           warm=warm or end, end=end, codes=codes)
    print(f"abandoned SSE streams: {args.abandon} opened, first event read, connection "
          f"dropped; {left} without a first event; RSS after the fuzz "
          f"{after_fuzz[0] / 1024:.1f} MiB, "
          f"after the streams {end[0] / 1024:.1f} MiB; open fds {after_fuzz[1]} -> {end[1]}")
    broken = (tally.server_errors or tally.lacking or tally.transport_errors
              or checks_passed != checks or any(codes) or left)
    return 1 if broken else 0


def report(args: argparse.Namespace, tally: Tally, *, checks: int, passed: int,
           elapsed: float, warm: tuple[int, int], end: tuple[int, int],
           codes: list[int]) -> None:
    total = sum(tally.status.values()) + tally.transport_errors
    print(f"gateway fuzz: {total} malformed requests (seed {args.seed}, batches of "
          f"{args.batch}, {args.concurrency} in flight) in {elapsed:.1f} s "
          f"({total / elapsed:.0f} req/s; shared 2-core machine, noisy)")
    print("answers by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(tally.status.items())))
    print(f"5xx: {tally.server_errors}")
    print(f"answers lacking the standard error: {tally.lacking}")
    print(f"no answer (transport errors): {tally.transport_errors}")
    print(f"health checks passed: {passed}/{checks}")
    print(f"gateway RSS: {warm[0] / 1024:.1f} MiB after the first batch, "
          f"{end[0] / 1024:.1f} MiB at the end ({(end[0] - warm[0]) / max(warm[0], 1):+.1%}); "
          f"open fds: {warm[1]} -> {end[1]}")
    print(f"exit codes (gateway, agent): {codes}")
    surfaces = Counter(key.split(":", 1)[0] for key in tally.families.elements())
    print("requests by surface: " + ", ".join(f"{s}: {n}" for s, n in sorted(surfaces.items())))
    print("requests by family: " + ", ".join(
        f"{f}: {n}" for f, n in sorted(tally.families.items())))
    for key, n in tally.problems.most_common(20):
        example = tally.examples.get(key)
        shown = "" if example is None else f"  e.g. {example.method} {example.path} " \
            f"{(example.body or b'')[:120]!r}"
        print(f"PROBLEM x{n}: {key}{shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--abandon", type=int, default=200,
                        help="SSE streams opened and dropped after their first event")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
