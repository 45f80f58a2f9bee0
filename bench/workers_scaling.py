"""Worker processes: one agent served by 1 process against ``--workers 2``, side by side.

Usage::

    python bench/workers_scaling.py                 # 3 runs x 4 s, 100 in flight
    python bench/workers_scaling.py --store postgresql://postgres@127.0.0.1:5432/test
    python bench/workers_scaling.py --quick         # 1 run, 60 requests (smoke test)

The question (issue #16): does ``serve_agents(..., workers=2)`` use the second
core? One private Mosquitto; the agent is a child process (this script
re-invoked with ``--serve``) running ``BenchExecutor`` (no wait: CPU-bound) with
the same shared task store in both rows (default: a fresh SQLite file per
measurement). ``1 process`` is the plain agent (its own subscription, no claims,
what ``--workers 1`` runs); ``2 workers`` is the supervisor and two forked workers
racing through claims. The client (this process) keeps ``--inflight`` unary
SendMessage requests in flight for ``--seconds`` (or until ``-n`` are answered), after
``--warmup`` seconds of the same load: a measurement of a few thousand requests, not
of the agent's first ones (see docs/performance.md, ``--workers N``, session 7).

Per row: req/s, p50/p99, errors, and CPU ms per request of the agent's processes
(supervisor and workers), of this client and of the whole machine (/proc/stat,
every process: the machine is shared, so its busy share says how noisy the
run was). Medians over runs; read the ratio, not absolute req/s.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

prefer_a2a_sdk_spans_off()
# ruff: noqa: E402 - every import below comes after that start-up decision
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

from a2a_mqtt._loop import run as run_loop
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.server import AgentConfig, AgentHost
from a2a_mqtt.server.workers import WorkerSupervisor
from harness import (
    CpuMeter,
    bench_parser,
    drive,
    finish_args,
    markdown_table,
    median_rows,
    paired_ratios,
    ratio,
    side_by_side,
    summarize,
    write_json,
)
from harness.agent import BenchExecutor, bench_card
from harness.cpu import machine_busy_seconds
from harness.lean import LeanRequester, ordered_task_ids, task_ids_for
from harness.procs import ChildProcess, private_broker, stdin_closed
from harness.spy import have_py_spy, start_py_spy, stop_py_spy
from harness.stats import core_ceiling, median, median_interval

CORES = os.cpu_count() or 1
VARIANTS: dict[str, tuple[int, str]] = {
    "1 process": (1, ""),
    "1 worker": (1, "partition"),
    "2 workers": (2, "partition"),
    "2 workers, all to w0": (2, "partition"),
    "2 workers, balanced": (2, "partition"),
    "2 workers (claim)": (2, "claim"),
    "2 separate agents": (2, "-"),
    "2 separate agents, 200 in flight": (2, "-"),
}
"""``2 workers, all to w0``: every Task.id hashes to worker 0 (lean client only), so
worker 0 serves all the load as one process would and worker 1 only drops its copies:
what the second worker costs apart from splitting the load. ``2 workers, balanced``
(lean client only): each request goes to the worker with fewer of the client's
requests in flight (:class:`Balanced`), where random Task.ids split the load evenly
only on average: whether the workers idle because one of them runs short of work.

``2 separate agents`` (lean client only): what two processes of this agent give here
when they share nothing. Two one-process agents, each its own agent (its own
subscription, so no copies and no claims) and, on SQLite, its own file (no shared lock,
no page cache emptied by the other's commits); the client alternates between them. At
``--inflight`` in all, each has half the load, as each of two workers does; ``, 200 in
flight`` doubles ``--inflight`` (200 at the default) so that each has one process's.
Two workers of the same agent share more than these, so they bound ``--workers 2``."""


class Balanced:
    """Task.ids that partition dispatch gives to the worker (of two) with fewer of this
    client's requests in flight at the moment each request is made."""

    def __init__(self, make_id: Callable[[], uuid.UUID]) -> None:
        self._ids = [task_ids_for(0, 2, make_id), task_ids_for(1, 2, make_id)]
        self._in_flight = [0, 0]
        self._next = 0

    def task_id(self) -> uuid.UUID:
        """The id for the request being made (LeanRequester asks before its first await)."""
        return self._ids[self._next]()

    def wrap(self, lean: LeanRequester) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            worker = self._next = 0 if self._in_flight[0] <= self._in_flight[1] else 1
            self._in_flight[worker] += 1
            try:
                await lean.send()
            finally:
                self._in_flight[worker] -= 1
        return send


async def database_backends(store_url: str) -> list[int]:
    """The PostgreSQL server processes serving the agent's connections (their CPU is the
    store's share of the machine); none for SQLite (it runs inside the agent)."""
    if not store_url.startswith("postgres"):
        return []
    import asyncpg

    conn = await asyncpg.connect(store_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


async def serve(url: str, ref: str, store: str, workers: int, *, dispatch: str,
                fast_path: bool) -> None:
    """``--serve``: the agent until stdin closes; prints ``READY pid...`` once serving."""
    config = AgentConfig(ref=AgentRef.parse(ref), card=bench_card(), executor=BenchExecutor(),
                         connection=ConnectionSettings(url=url), task_store_url=store,
                         session_expiry=0, max_concurrency=64, fast_path=fast_path)
    stop = stdin_closed()
    if dispatch == "-":
        host = AgentHost([config])
        await host.serve(stop, on_ready=lambda: print(f"READY {os.getpid()}", flush=True))
        return
    supervisor = WorkerSupervisor([config], workers=workers, dispatch=dispatch)

    def ready() -> None:
        print("READY " + " ".join(map(str, [os.getpid(), *supervisor.pids])), flush=True)

    await supervisor.serve(stop, on_ready=ready)


async def measure(url: str, broker_pid: int, store: str, variant: str, run: int, *, n: int,
                  duration: float, warmup: float, inflight: int, fast_path: bool, client_kind: str,
                  task_ids: str = "v7", spy: Path | None = None, spy_waits: bool = False
                  ) -> list[dict[str, object]]:
    ref = AgentRef("bench", "workers", f"w-{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory() as tmp:
        workers, dispatch = VARIANTS[variant]
        separate = variant.startswith("2 separate")
        if separate and client_kind != "lean":
            raise SystemExit(f"{variant!r} needs the lean client")
        refs = [AgentRef("bench", "workers", f"{ref.name}-{i}") for i in range(2)] \
            if separate else [ref]
        if "200 in flight" in variant:
            inflight *= 2

        def store_of(i: int) -> str:
            return f"sqlite:///{tmp}/agent{i}.db" if store == "sqlite" else store

        store_url = store_of(0)
        children = [ChildProcess(__file__, ["--serve", url, str(r), store_of(i), str(workers),
                                            dispatch or "-", "1" if fast_path else "0"],
                                 stop_timeout=30) for i, r in enumerate(refs)]
        async with AsyncExitStack() as stack:
            for child in children:
                await stack.enter_async_context(child)
            pids = [int(p) for child in children for p in child.ready_line.split()[1:]]
            make_id = uuid.uuid4 if task_ids == "v4" else ordered_task_ids()
            send: Callable[[], Awaitable[None]]
            if client_kind == "lean" and separate:
                turn = itertools.cycle([(await stack.enter_async_context(LeanRequester(
                    url, r, task_ids=make_id))).send for r in refs])

                async def alternate() -> None:
                    await next(turn)()
                send = alternate
            elif client_kind == "lean" and "balanced" in variant:
                balance = Balanced(make_id)
                send = balance.wrap(await stack.enter_async_context(LeanRequester(
                    url, ref, task_ids=balance.task_id)))
            elif client_kind == "lean":
                send = (await stack.enter_async_context(LeanRequester(
                    url, ref, task_ids=task_ids_for(0, 2, make_id) if "w0" in variant
                    else make_id))).send
            else:
                client = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
                    connection=ConnectionSettings(url=url), reply_first_timeout=60,
                    max_attempts=1), discover=False))
                transport = client.transport_for(ref, card=bench_card())

                async def sdk_send() -> None:
                    await transport.send_message(SendMessageRequest(message=Message(
                        message_id=uuid.uuid4().hex, role=Role.ROLE_USER,
                        parts=[Part(text="hi")])))
                send = sdk_send

            # Warm-up at the measured load: fresh processes, caches and SQLite file.
            await drive(send, n, inflight, max_seconds=warmup, timeout=60)
            db = await database_backends(store_url)
            cpu = CpuMeter({"client": None, "broker": broker_pid,
                            **{f"agent{i}": p for i, p in enumerate(pids)},
                            **{f"db{i}": p for i, p in enumerate(db)}})
            spies = []
            if spy is not None:  # every agent process
                slug = variant.replace(" ", "_").replace("(", "").replace(")", "")
                options = ("--threads", *(("--idle", "--native") if spy_waits else ()))
                spies = [await start_py_spy(p, spy / f"{slug}-run{run}-agent{i}.txt", 250,
                                            *options)
                         for i, p in enumerate(pids)]
            busy0, total0 = machine_busy_seconds()
            cpu.start()
            latencies, seconds, errors = await drive(send, n, inflight,
                                                     max_seconds=duration, timeout=60)
            answered = len(latencies) + errors
            per = cpu.per_request(answered)
            busy1, total1 = machine_busy_seconds()
            for proc in spies:
                await stop_py_spy(proc, log=logging.getLogger("workers_scaling"))
    stats = summarize(latencies, seconds, errors)
    agents = [v for k, v in per.items() if k.startswith("agent") and v is not None]
    agent_ms = sum(agents)
    db_ms = sum(v for k, v in per.items() if k.startswith("db") and v is not None)
    # What an idle machine of this many cores could do with these CPU costs: no process
    # beyond one core (each serves on one loop), all of them within every core.
    total_ms = agent_ms + db_ms + (per["client"] or 0.0) + (per["broker"] or 0.0)
    busiest = max(agents, default=0.0)
    return [{"variant": variant, "run": run, **vars(stats), "agent_cpu_ms": agent_ms,
             "busiest_agent_ms": busiest,
             "ceiling_rps": core_ceiling(busiest, total_ms, CORES),
             "client_cpu_ms": per["client"], "broker_cpu_ms": per["broker"],
             "db_cpu_ms": db_ms,
             "per_process": per,
             "requests": answered,
             "machine_cpu_ms": (busy1 - busy0) * 1000 / max(1, answered),
             "machine_busy": (busy1 - busy0) / max(1e-9, total1 - total0)}]


async def main() -> None:
    parser = bench_parser(__doc__, quick="1 run, 60 requests")
    parser.add_argument("-n", type=int, default=1_000_000,
                        help="requests per measurement at most (see --seconds)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="length of each measurement (default 4; ends sooner at -n)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of the same load before each measurement (default 1)")
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=["1 process", "2 workers", "2 workers (claim)"])
    parser.add_argument("--client", choices=["lean", "sdk"], default="lean",
                        help="the load generator: lean (harness/lean.py: raw binding "
                        "requests, replies checked as bytes) or sdk (A2AMqttClient)")
    parser.add_argument("--task-ids", choices=("v7", "v4"), default="v7",
                        help="the lean client's Task.ids: v7 (time-ordered, as docs/binding.md "
                        "§6.2 asks of requesters and A2AMqttClient makes; the default since "
                        "session 16) or v4 (random: a requester that ignores that)")
    parser.add_argument("--handler", choices=("lean", "sdk"), default="lean",
                        help="the agents' request handler: lean (AgentConfig.fast_path, the "
                        "default agents get) or sdk (fast_path=False: a2a-sdk's handler)")
    parser.add_argument("--store", default="sqlite",
                        help="sqlite (a fresh file per measurement) or a postgresql:// URL")
    parser.add_argument("--spy", type=Path, default=None, metavar="DIR",
                        help="record py-spy (raw, per thread) of every agent process "
                        "during each measurement into DIR")
    parser.add_argument("--spy-waits", action="store_true",
                        help="with --spy: idle samples and native frames too (where threads "
                        "wait: SQLite's busy handler, the writer lock)")
    args = finish_args(parser, None, runs=1, n=60, warmup=0.2)
    if args.spy is not None:
        if not have_py_spy():
            raise SystemExit("--spy needs py-spy (pip install py-spy)")
        args.spy.mkdir(parents=True, exist_ok=True)
    async with private_broker() as broker:
        results = await side_by_side(
            args.variants, args.runs,
            lambda v, run: measure(broker.url, broker.process.pid, args.store, v, run, n=args.n,
                                  duration=args.seconds, warmup=args.warmup,
                                  inflight=args.inflight, fast_path=args.handler == "lean",
                                  client_kind=args.client, task_ids=args.task_ids,
                                  spy=args.spy,
                                  spy_waits=args.spy_waits))
    rows = median_rows(results, ("variant",), ("requests", "rps", "p50_ms", "p99_ms",
                                               "agent_cpu_ms", "busiest_agent_ms",
                                               "client_cpu_ms", "broker_cpu_ms", "db_cpu_ms",
                                               "ceiling_rps", "machine_cpu_ms",
                                               "machine_busy"))
    base, base_ceiling = rows[0]["rps"], rows[0]["ceiling_rps"]
    paired = paired_ratios(results, base=args.variants[0])
    for row in rows:
        row["ratio"] = ratio(row["rps"], base)
        row["ceiling_ratio"] = ratio(row["ceiling_rps"], base_ceiling)
        ratios = paired.get(row["variant"], [])
        row["paired"] = median(ratios)  # nan (printed "-") when no run paired
        row["paired_low"], row["paired_high"] = median_interval(ratios)
    print(f"Medians of {args.runs} run(s) of {args.seconds:g} s (at most {args.n:,} "
          f"requests) after {args.warmup:g} s of warm-up, {args.inflight} in flight, "
          f"store {args.store}, {args.client} client ({args.task_ids} Task.ids), "
          f"{args.handler} handler, "
          f"load average {os.getloadavg()[0]:.1f}:")
    print(markdown_table([("variant", ""), ("requests", ",.0f"), ("req/s", ",.0f", "rps"),
                          ("x 1 process", ".2f", "ratio"),
                          ("paired x", ".2f", "paired"), ("95 % interval", ".2f", "paired_low"),
                          ("to", ".2f", "paired_high"), ("p50 ms", ".1f"), ("p99 ms", ".1f"),
                          ("agent CPU ms/req", ".2f", "agent_cpu_ms"),
                          ("busiest agent process ms/req", ".2f", "busiest_agent_ms"),
                          ("client CPU ms/req", ".2f", "client_cpu_ms"),
                          ("broker CPU ms/req", ".2f", "broker_cpu_ms"),
                          ("PostgreSQL CPU ms/req", ".2f", "db_cpu_ms"),
                          (f"{CORES}-core ceiling req/s", ",.0f", "ceiling_rps"),
                          ("ceiling x 1 process", ".2f", "ceiling_ratio"),
                          ("machine CPU ms/req", ".2f", "machine_cpu_ms"),
                          ("machine busy", ".0%", "machine_busy"), ("errors", "d")], rows))
    path = write_json("workers_scaling", {"task_ids": args.task_ids, "medians": rows,
                                          "runs": results}, args.json)
    print(f"results: {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        run_loop(serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                       dispatch=sys.argv[6], fast_path=sys.argv[7] == "1"))
    else:
        run_loop(main())
