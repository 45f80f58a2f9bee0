"""HTTP client -> gateway -> MQTT agent, against HTTP client -> a2a-sdk HTTP agent directly.

Usage::

    python bench/gateway_compare.py            # 3 runs; table, ratios, JSON in bench/results/
    python bench/gateway_compare.py --quick    # 1 small run (~20 s), a smoke test
    python bench/gateway_compare.py --runs 5   # more runs on a noisy machine

Both paths do the same trivial work (``bench/_common.py:BenchExecutor``: the
Task, one artifact echoing the input, COMPLETED) and are driven by the same
client, unary ``SendMessage``: by default the lean load generator
(``harness/leanhttp.py``: byte templates on one keep-alive connection per request
in flight, replies checked as bytes), so that the servers, not the client, set the
pace at 100 in flight; ``--client sdk`` drives them with a2a-sdk's own
``JsonRpcTransport`` on httpx instead (what session 6 measured).

* ``direct``: a2a-sdk ``create_jsonrpc_routes`` + ``DefaultRequestHandler`` +
  ``InMemoryTaskStore`` in a Starlette app under uvicorn (one process);
* ``gateway``: ``a2a-mqtt gateway`` (uvicorn, a2a-sdk routes, MqttProxyHandler;
  one process) -> Mosquitto -> ``AgentServer`` (``DefaultRequestHandler`` +
  ``InMemoryTaskStore``; another process).

Each server is this script re-invoked with ``--serve``; the client runs here,
so nothing shares an event loop or a GIL. Fresh server processes for every
run. Both paths run side by side and each scenario is measured in
alternating slices (A B B A A B ...), so on a shared machine both see the same
background load. Scenarios: 1 and 100 requests in flight, each after a
warm-up. Reported: the median over runs of
p50, p99 and throughput, plus server CPU per request (agent + gateway + broker
for the gateway path). Targets (issue #16): gateway p50 <= 1.3 x direct p50 at
1 in flight, and gateway throughput >= 1 x direct at 100 in flight.

a2a-sdk's own OpenTelemetry spans (``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED``,
read once when a2a-sdk is imported) are left at each product's default, as in
``bench/a2a_compare.py``: the gateway and agent processes turn them off as the
``a2a-mqtt gateway`` and ``a2a-mqtt serve`` commands do (unless the variable is
set), the direct a2a-sdk server gets the user's environment (on unless set).
``--sdk-spans on|off`` forces the same setting on every server instead.

Every server process runs on the event loop ``a2a-mqtt``'s commands use
(uvloop when installed, ``a2a_mqtt._loop``), and uvicorn picks its HTTP
parser as it does by default (httptools when installed, which the
``gateway`` extra installs), so both paths run with the same loop and parser.
The CPU of each process is reported per request (direct server; gateway,
agent and broker), with the client's own CPU and the load average; the
p50 at 1 in flight and req/s at 100 in flight are then compared with the
targets. ``--profile DIR`` also records py-spy of the gateway and the agent
(and the direct server) during the measured slices.
Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from pathlib import Path as PathLib
from typing import Any

from a2a_mqtt.connection import ConnectionSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    bench_parser,
    finish_args,
    markdown_table,
    median,
    median_rows,
    proc_cpu_seconds,
    summarize,
    write_json,
)
from harness.agent import BENCH_TEXT, BenchExecutor, bench_card
from harness.leanhttp import LeanHttpDriver
from harness.spy import have_py_spy, start_py_spy, stop_py_spy

SCRIPT = Path(__file__).resolve()
SCENARIOS = (("1 in flight", 1), ("100 in flight", 100))
TARGET_P50_RATIO = 1.3
TARGET_RPS_RATIO = 1.0
TIMEOUT = 30.0
CPU_FIELDS = ("direct_cpu_ms", "gateway_cpu_ms", "agent_cpu_ms", "broker_cpu_ms",
              "client_cpu_ms")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _until_stopped(deadline: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    eof = asyncio.create_task(reader.read())  # the parent closes stdin to stop us
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({eof, waiter}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
    for task in (eof, waiter):
        task.cancel()


async def serve(args: argparse.Namespace) -> None:
    """One server process: ``direct``, ``agent`` or ``gateway``."""
    from a2a_mqtt.binding.topics import AgentRef

    if args.serve == "direct":
        import uvicorn
        from a2a.server.request_handlers import DefaultRequestHandler
        from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
        from a2a.server.tasks import InMemoryTaskStore
        from starlette.applications import Starlette

        card = bench_card(f"http://127.0.0.1:{args.port}/")
        handler = DefaultRequestHandler(agent_executor=BenchExecutor(),
                                        task_store=InMemoryTaskStore(), agent_card=card)
        app = Starlette(routes=[*create_jsonrpc_routes(handler, rpc_url="/"),
                                *create_agent_card_routes(card)])
        config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning",
                                access_log=False, lifespan="off", timeout_keep_alive=60)
        listening = asyncio.Event()

        class Uvicorn(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                listening.set()

        server = Uvicorn(config)
        from a2a_mqtt.gateway.server import listen_socket  # TCP_NODELAY, as the gateway

        task = asyncio.create_task(server.serve(sockets=[listen_socket("127.0.0.1", args.port)]))
        async with asyncio.timeout(TIMEOUT):
            await listening.wait()
        _say("READY")
        await _until_stopped(args.deadline)
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)
        await handler.aclose()
    elif args.serve == "agent":
        from a2a_mqtt.server import AgentConfig, AgentServer

        config = AgentConfig(ref=AgentRef.parse(args.agent), card=bench_card(),
                             executor=BenchExecutor(),
                             connection=ConnectionSettings(url=args.broker), session_expiry=0)
        async with AgentServer(config):
            _say("READY")
            await _until_stopped(args.deadline)
    else:
        from a2a_mqtt.gateway import GatewayConfig, GatewayServer

        gw_config = GatewayConfig(connection=ConnectionSettings(url=args.broker), port=args.port,
                                  card_cache_control=None)
        async with GatewayServer(gw_config) as gateway:
            await gateway.gateway.mqtt.discovery.resolve(args.agent, timeout=TIMEOUT)
            _say("READY")
            await _until_stopped(args.deadline)


class Server:
    """This script re-invoked with ``--serve``; closing its stdin stops it."""

    def __init__(self, *argv: str, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Server:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPT), *self.argv, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=self.env)
        assert self.proc.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            line = (await self.proc.stdout.readline()).decode().strip()
        if line != "READY":
            raise RuntimeError(f"server {self.argv} did not start (said {line!r})")
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def cpu(self) -> float:
        return (proc_cpu_seconds(self.proc.pid) or 0.0) if self.proc else 0.0


@dataclass
class Result:
    path: str
    scenario: str
    run: int
    n: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms: float
    # CPU ms per request of each server process (None where the path has no such process)
    direct_cpu_ms: float | None = None
    gateway_cpu_ms: float | None = None
    agent_cpu_ms: float | None = None
    broker_cpu_ms: float | None = None
    client_cpu_ms: float | None = None


async def drive(url: str, n: int, inflight: int, client: str = "lean"
                ) -> tuple[list[float], float, int]:
    """``n`` unary SendMessage calls with ``inflight`` concurrent workers, by the lean
    generator (``harness/leanhttp.py``) or by a2a-sdk's ``JsonRpcTransport`` (``sdk``)."""
    if client == "lean":
        async with LeanHttpDriver(url, inflight=inflight, text=BENCH_TEXT,
                                  timeout=TIMEOUT) as lean:
            return await lean.drive(n)
    import httpx
    from a2a.client.transports.jsonrpc import JsonRpcTransport
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    left = n
    async with httpx.AsyncClient(timeout=TIMEOUT, headers={"A2A-Version": "1.0"},
                                 limits=httpx.Limits(max_connections=200,
                                                     max_keepalive_connections=200)) as http:
        transport = JsonRpcTransport(http, bench_card(url), url)

        async def worker() -> None:
            nonlocal left, errors
            while left > 0:
                left -= 1
                request = SendMessageRequest(message=Message(
                    message_id=uuid.uuid4().hex, role=Role.ROLE_USER,
                    parts=[Part(text=BENCH_TEXT)]))
                t0 = time.perf_counter()
                try:
                    response = await transport.send_message(request)
                    assert response.task.artifacts[0].parts[0].text == BENCH_TEXT
                except Exception as exc:  # counted (by kind); the run goes on
                    errors += 1
                    kind = f"{type(exc).__name__}: {str(exc)[:80]}"
                    kinds[kind] = kinds.get(kind, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(inflight)))
    for kind, count in kinds.items():
        print(f"    {count} x {kind}", file=sys.stderr)
    return latencies, time.perf_counter() - start, errors


@dataclass
class Path:
    """One of the two compared paths: its URL and the processes that serve it."""

    name: str
    url: str
    servers: dict[str, Server]
    broker_pid: int | None = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each process, by role (``broker`` included)."""
        out = {role: server.cpu() for role, server in self.servers.items()}
        if self.broker_pid:
            out["broker"] = proc_cpu_seconds(self.broker_pid) or 0.0
        return out


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: after[role] - before[role] for role in after}


def _client_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def measure(paths: list[Path], run: int, args: argparse.Namespace) -> list[Result]:
    """Each scenario in ``args.slices`` alternating slices per path (A B A B ...), so
    both paths see the same background load on a shared machine."""
    for path in paths:
        await drive(path.url, args.warmup, 10, args.client)
    results = []
    for scenario, inflight in SCENARIOS:
        n = args.seq_n if inflight == 1 else args.conc_n
        per_slice = max(inflight, n // args.slices)
        lats: dict[str, list[float]] = {p.name: [] for p in paths}
        secs = dict.fromkeys(lats, 0.0)
        errs = dict.fromkeys(lats, 0)
        cpu: dict[str, dict[str, float]] = {p.name: {} for p in paths}
        for i in range(args.slices):
            for path in paths if i % 2 == 0 else list(reversed(paths)):
                before, client0 = path.cpu(), _client_cpu()
                latencies, seconds, errors = await drive(path.url, per_slice, inflight,
                                                         args.client)
                spent = _spent(before, path.cpu())
                spent["client"] = _client_cpu() - client0
                lats[path.name] += latencies
                secs[path.name] += seconds
                errs[path.name] += errors
                for role, value in spent.items():
                    cpu[path.name][role] = cpu[path.name].get(role, 0.0) + value
        for path in paths:
            stats = summarize(lats[path.name], secs[path.name], errs[path.name])
            done = max(1, stats.n + errs[path.name])
            per = {role: value * 1000 / done for role, value in cpu[path.name].items()}
            server = sum(v for role, v in per.items() if role != "client")
            results.append(Result(
                path.name, scenario, run, stats.n, stats.rps, stats.p50_ms, stats.p99_ms,
                errs[path.name], server, direct_cpu_ms=per.get("direct"),
                gateway_cpu_ms=per.get("gateway"), agent_cpu_ms=per.get("agent"),
                broker_cpu_ms=per.get("broker"), client_cpu_ms=per.get("client")))
            shares = "  ".join(f"{role} {value:.2f}" for role, value in per.items())
            print(f"  run {run} {path.name:<8} {scenario:<14} p50 {stats.p50_ms:6.2f} ms  "
                  f"p99 {stats.p99_ms:6.2f} ms  {stats.rps:7.0f} req/s  errors "
                  f"{errs[path.name]}  CPU ms/req: {shares}", flush=True)
    return results


def server_envs(sdk_spans: str) -> tuple[dict[str, str], dict[str, str]]:
    """The environments of the direct server and of our processes (gateway, agent)."""
    from a2a_mqtt.telemetry import A2A_SDK_SPANS_VAR, prefer_a2a_sdk_spans_off

    direct, ours = dict(os.environ), dict(os.environ)
    if sdk_spans == "default":
        prefer_a2a_sdk_spans_off(ours)  # what the a2a-mqtt command does at start-up
    else:
        for env in (direct, ours):
            env[A2A_SDK_SPANS_VAR] = "true" if sdk_spans == "on" else "false"
    return direct, ours


async def run_once(run: int, broker_url: str, broker_pid: int | None,
                   args: argparse.Namespace) -> list[Result]:
    """Fresh servers for both paths, measured side by side."""
    from a2a_mqtt.broker import free_port

    deadline = ["--deadline", str(args.deadline)]
    env_direct, env_ours = server_envs(args.sdk_spans)
    direct_port, gateway_port = free_port(), free_port()
    agent = f"bench/gateway/echo-{uuid.uuid4().hex[:8]}"
    async with Server("--serve", "direct", "--port", str(direct_port), *deadline,
                      env=env_direct) as direct, \
            Server("--serve", "agent", "--agent", agent, "--broker", broker_url,
                   *deadline, env=env_ours) as agent_proc, \
            Server("--serve", "gateway", "--agent", agent, "--broker", broker_url,
                   "--port", str(gateway_port), *deadline, env=env_ours) as gateway_proc:
        paths = [Path("direct", f"http://127.0.0.1:{direct_port}/", {"direct": direct}),
                 Path("gateway", f"http://127.0.0.1:{gateway_port}/{agent}",
                      {"gateway": gateway_proc, "agent": agent_proc}, broker_pid)]
        if run % 2 == 0:
            paths.reverse()
        spies = await _start_profiles(args, run, {"direct": direct, "gateway": gateway_proc,
                                                  "agent": agent_proc})
        try:
            return await measure(paths, run, args)
        finally:
            for spy in spies:
                await stop_py_spy(spy, log=logging.getLogger("gateway_compare"))


async def _start_profiles(args: argparse.Namespace, run: int,
                          servers: dict[str, Server]) -> list[asyncio.subprocess.Process]:
    """py-spy on each server process for the whole run (``--profile DIR``); the
    warm-up is included, a small share of a measured run."""
    if not args.profile:
        return []
    if not have_py_spy():
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    out = PathLib(args.profile)  # made by __main__
    spies = []
    for role, server in servers.items():
        assert server.proc is not None
        spies.append(await start_py_spy(server.proc.pid, out / f"run{run}-{role}.txt",
                                        args.profile_rate))
    return spies


def summary(results: list[Result]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    rows = median_rows(results, ("path", "scenario"), ("p50_ms", "p99_ms", "rps", "server_cpu_ms",
                                                       *CPU_FIELDS))
    order = [s for s, _ in SCENARIOS]
    rows.sort(key=lambda r: (r["path"] != "direct", order.index(r["scenario"])))
    get = {(r["path"], r["scenario"]): r for r in rows}
    ratios = {}
    for scenario, _ in SCENARIOS:
        d, g = get[("direct", scenario)], get[("gateway", scenario)]
        ratios[f"p50 {scenario}: gateway / direct"] = g["p50_ms"] / d["p50_ms"]
        ratios[f"p99 {scenario}: gateway / direct"] = g["p99_ms"] / d["p99_ms"]
        ratios[f"req/s {scenario}: gateway / direct"] = g["rps"] / d["rps"]
        ratios[f"server CPU/req {scenario}: gateway path / direct"] = (
            g["server_cpu_ms"] / d["server_cpu_ms"])
        ratios[f"CPU/req {scenario}: gateway process / direct"] = (
            g["gateway_cpu_ms"] / d["direct_cpu_ms"])
        per_run = {(r.run, r.path): r.p50_ms for r in results if r.scenario == scenario}
        runs = sorted({run for run, _ in per_run})
        ratios[f"p50 {scenario}: median of per-run ratios"] = median(
            [per_run[(run, "gateway")] / per_run[(run, "direct")] for run in runs])
    return rows, ratios


async def main(args: argparse.Namespace) -> int:
    from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker

    results: list[Result] = []
    load = [os.getloadavg()]
    async with EmbeddedBroker(config=BrokerConfig()) as broker:
        for run in range(1, args.runs + 1):
            results += await run_once(run, broker.url, broker.process.pid, args)
            load.append(os.getloadavg())
    rows, ratios = summary(results)
    print(f"\nMedians of {args.runs} run(s); CPU in ms per request, by process:")
    print(markdown_table(
        [("path", ""), ("scenario", ""), ("p50 ms", ".2f"), ("p99 ms", ".2f"),
         ("req/s", ",.0f", "rps"), ("server CPU", ".2f", "server_cpu_ms"),
         ("direct", ".2f", "direct_cpu_ms"), ("gateway", ".2f", "gateway_cpu_ms"),
         ("agent", ".2f", "agent_cpu_ms"), ("broker", ".2f", "broker_cpu_ms"),
         ("client", ".2f", "client_cpu_ms"), ("errors", "d")], rows))
    print("load average (1 min) at the start and after each run: "
          + ", ".join(f"{one:.1f}" for one, _, _ in load))
    print()
    for name, value in ratios.items():
        print(f"{name:<44} {value:6.2f}")
    p50_ratio = ratios["p50 1 in flight: gateway / direct"]
    rps_ratio = ratios["req/s 100 in flight: gateway / direct"]
    met = p50_ratio <= TARGET_P50_RATIO and rps_ratio >= TARGET_RPS_RATIO
    print(f"\na2a-sdk spans: {args.sdk_spans}; load generator: {args.client}")
    print(f"target: gateway p50 <= {TARGET_P50_RATIO} x direct p50 at 1 in flight: "
          f"{p50_ratio:.2f} -> {'met' if p50_ratio <= TARGET_P50_RATIO else 'NOT met'}")
    print(f"target: gateway req/s >= {TARGET_RPS_RATIO} x direct at 100 in flight: "
          f"{rps_ratio:.2f} -> {'met' if rps_ratio >= TARGET_RPS_RATIO else 'NOT met'}")
    out = write_json("gateway_compare", {
        "args": vars(args), "cpus": os.cpu_count(), "loadavg": load,
        "results": [asdict(r) for r in results],
        "medians": rows, "ratios": ratios, "target_met": met}, args.json)
    print(f"results: {out}")
    return 0 if all(r["errors"] == 0 for r in rows) else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="1 run of 200 / 600 requests")
    parser.add_argument("--seq-n", type=int, default=1000, help="requests at 1 in flight")
    parser.add_argument("--conc-n", type=int, default=3000, help="requests at 100 in flight")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--slices", type=int, default=10,
                        help="alternating slices per scenario (A B A B ...)")
    parser.add_argument("--client", choices=("lean", "sdk"), default="lean",
                        help="load generator: 'lean' (byte templates on keep-alive "
                             "connections, harness/leanhttp.py) or 'sdk' (a2a-sdk's "
                             "JsonRpcTransport on httpx, CPU-bound at 100 in flight)")
    parser.add_argument("--sdk-spans", choices=("default", "on", "off"), default="default",
                        help="a2a-sdk's own spans: each product's default (ours off, "
                             "a2a-sdk's from the environment), or forced on/off everywhere")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="record py-spy (raw format) of each server process into DIR")
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s")
    parser.add_argument("--deadline", type=float, default=1800.0,
                        help="a server process exits after this many seconds regardless")
    parser.add_argument("--serve", choices=("direct", "agent", "gateway"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    return finish_args(parser, argv, runs=1, seq_n=200, conc_n=600, warmup=50, slices=4)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.serve:
        from a2a_mqtt._loop import run as run_loop  # uvloop when installed, as a2a-mqtt's

        run_loop(serve(arguments))
        sys.exit(0)
    if arguments.profile:
        PathLib(arguments.profile).mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(arguments)))
