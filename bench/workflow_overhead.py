"""Workflow orchestration cost: overhead per step, and 1 supervisor against 3 (issue #14).

Usage::

    python bench/workflow_overhead.py                 # both parts (about 3 min)
    python bench/workflow_overhead.py --skip-overhead --rounds 8
    python bench/workflow_overhead.py --spy /tmp/spy  # py-spy of every supervisor
    sudo .venv/bin/python bench/workflow_overhead.py --skip-overhead --supervisor-cpu 0.25
    python bench/workflow_overhead.py --json /tmp/wf.json

Part 1, overhead per step: one no-op agent (completes at once, in-memory store) and
one supervisor, in this process, on one Mosquitto. Alternately, ``--reps`` times:
(a) a workflow of ``--steps`` no-op steps in a chain, called as one streaming task
until its final artifact; (b) the same number of streaming calls made directly to
the agent, one after the other. Overhead per step = (median(a) - median(b)) / steps.
Measured with the run database on SQLite and on PostgreSQL.

Part 2, throughput on PostgreSQL (``workflow_bench/throughput.py``): two set-ups,
each with its own database, ``--agents`` (3: one per step, so that the agents are
not the limit) no-op agent processes whose steps take
``--step-ms`` (0) of I/O, and 1 or 3 supervisor processes (``a2a-mqtt workflow
serve``, no ``--max-runs`` limit by default) serving a 3-step workflow. Both are
started and warmed up (``--warmup`` runs, as many at once as measured), then
measured in turns, the order rotated each of ``--rounds`` rounds: a window keeps
``--inflight`` (96: one supervisor is always busy, three nearly) runs going until
``--runs`` have completed; runs/s = completed runs / time to the last. Reported:
median runs/s of each set-up and their ratio, and per window the supervisors' CPU
per run (all supervisors together), the CPU per run of every process on the path
(the agents, the PostgreSQL backends of the set-up's database, the broker, this
client), and each supervisor's share of the wall time it ran and waited runnable
for a CPU (/proc/PID/task/*/schedstat): ran + waited near 1 means the supervisor
is the limit, and waited > ran that the machine starves it. Every agent and
supervisor runs in a session of its own, as on separate hosts: with autogroup
scheduling a session gets one share of the CPUs however many processes it has
(``--one-session`` keeps them all in this process's session, for comparison).
``--supervisor-cpu CORES`` caps each supervisor process to CORES of CPU in a cgroup
of its own (``harness/cpucap.py``; Linux, root), standing in for one small host per
supervisor on one machine: a window then also reports each supervisor's CPU use in
cores against the cap, and the share of 100 ms periods in which it hit the cap
(near 1: the cap is the limit). The machine has 2
cores shared with the broker, PostgreSQL, the agents and this client: read the
ratio and the CPU per run, not the absolute rates.

Built on the shared harness (bench/harness/): the agent is its ``BenchExecutor``
(with ``delay`` for the step's I/O), the broker its ``private_broker``, CPU its
``CpuMeter``, the 1-against-3 rounds its ``side_by_side`` (order rotated each
round), medians and the ratio its ``stats``, the table and ``--json`` its
``report``. ``--runs`` keeps this bench's meaning (workflow runs per throughput
window); ``--rounds`` is the number of side-by-side rounds; ``--quick`` is a small
smoke run of both parts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

prefer_a2a_sdk_spans_off()  # as an a2a-mqtt process does, before a2a-sdk is imported
# ruff: noqa: E402 - every import below comes after that start-up decision
from harness import (
    bench_parser,
    finish_args,
    markdown_table,
    median,
    ratio,
    side_by_side,
    write_json,
)
from harness.cpucap import CpuCapError, find_controller, interrupt_on_term, quota_for
from harness.procs import private_broker
from workflow_bench.throughput import Setup, chain, pg_database, run_once

SCRIPT = Path(__file__).resolve()


# --- the no-op agent (the harness's) ----------------------------------------------------


def _agent_config(url: str, ref: str, delay: float = 0.0) -> Any:
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.connection import ConnectionSettings
    from a2a_mqtt.server import AgentConfig
    from harness.agent import BenchExecutor, bench_card

    card = bench_card()
    card.capabilities.streaming = True   # steps are followed as streams, as before
    return AgentConfig(ref=AgentRef.parse(ref), card=card, executor=BenchExecutor(delay=delay),
                       connection=ConnectionSettings(url=url), session_expiry=0,
                       watch_broker_drops=False,
                       max_concurrency=256)


def _serve_agent(url: str, ref: str, delay: str) -> None:
    from a2a_mqtt.server import serve_agents

    asyncio.run(serve_agents([_agent_config(url, ref, float(delay))]))


# --- helpers ---------------------------------------------------------------------------


async def direct_calls(client: Any, n: int) -> None:
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

    for _ in range(n):
        message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                          task_id=str(uuid.uuid4()), parts=[Part(text="go")])
        async for _item in client.send_message(SendMessageRequest(message=message)):
            pass


# --- part 1 --------------------------------------------------------------------------


async def overhead(url: str, db: str, steps: int, reps: int) -> dict[str, Any]:
    from a2a_mqtt.client import A2AMqttClient, RequesterConfig
    from a2a_mqtt.connection import ConnectionSettings
    from a2a_mqtt.server import AgentServer
    from a2a_mqtt.workflows import parse_workflow
    from a2a_mqtt.workflows.supervisor import Supervisor, SupervisorConfig

    name = f"noop{uuid.uuid4().hex[:6]}"
    agent = f"bench/wf/{name}-agent"
    config = SupervisorConfig(workflows=(parse_workflow(chain(name, steps, [agent])),),
                              database_url=db, connection=ConnectionSettings(url=url),
                              org="bench", unit="wf",
                              lease_ttl=15, session_expiry=0)
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(AgentServer(_agent_config(url, agent)))
        sup = Supervisor(config)
        task = asyncio.create_task(sup.serve(stop), name="bench-supervisor")
        mqtt = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
            connection=ConnectionSettings(url=url), max_attempts=1, reply_first_timeout=30)))
        wf_client = await mqtt.connect(f"bench/wf/{name}", timeout=10)
        direct = await mqtt.connect(agent, timeout=10)
        await run_once(wf_client)          # warm-up: tables, connections, caches
        await direct_calls(direct, steps)
        wf_times, direct_times = [], []
        for _ in range(reps):
            start = time.perf_counter()
            assert await run_once(wf_client)
            wf_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            await direct_calls(direct, steps)
            direct_times.append(time.perf_counter() - start)
        stop.set()
        await task
    wf_med, direct_med = median(wf_times), median(direct_times)
    return {"db": db.split(":", maxsplit=1)[0], "steps": steps, "reps": reps,
            "workflow_ms": round(wf_med * 1000, 1), "direct_ms": round(direct_med * 1000, 1),
            "overhead_ms_per_step": round((wf_med - direct_med) / steps * 1000, 2),
            "ratio": round(ratio(wf_med, direct_med) or 0.0, 2)}


def cap_text(row: dict[str, Any]) -> str:
    if row["cpu_cap"] is None:
        return ""
    return (f"cores used {row['supervisor_cores']} of {row['cpu_cap']} each, "
            f"periods at the cap {row['supervisor_throttled']}; ")


# --- main ----------------------------------------------------------------------------


THROUGHPUT_COLUMNS = [("supervisors", ""), ("runs/s", ".1f", "runs_per_s"),
                      ("failed", ".0f"), ("supervisor CPU ms/run", ".1f",
                                          "supervisor_cpu_ms_per_run"),
                      ("load", ".1f"), ("runs per supervisor", "", "runs_per_supervisor")]


async def throughput(url: str, broker_pid: int | None, tmp: Path,
                     args: argparse.Namespace) -> dict[str, Any]:
    """Both set-ups alive, measured in turns (order rotated each round); medians."""
    def setup(n: int) -> Setup:
        return Setup(url=url, n=n, tmp=tmp, agent_script=SCRIPT, n_agents=args.agents,
                     step_ms=args.step_ms, max_runs=args.max_runs, broker_pid=broker_pid,
                     sessions=not args.one_session, cpu_cap=args.supervisor_cpu)

    async with setup(1) as one, setup(3) as three:
        setups = {"1": one, "3": three}
        for s in setups.values():   # opens every connection pool before measuring
            await s.drive(args.warmup, min(args.warmup, args.inflight))
        windows = 0

        async def measure(variant: str, _round: int) -> list[dict[str, Any]]:
            nonlocal windows
            windows += 1
            row = await setups[variant].measure(runs=args.runs, inflight=args.inflight,
                                                spy=args.spy, window=windows)
            print(f"throughput [postgresql]: {variant} supervisor(s) "
                  f"{row['runs_per_s']} runs/s ({row['runs']} runs of 3 steps, "
                  f"{args.inflight} in flight, {row['failed']} failed; runs per "
                  f"supervisor {row['runs_per_supervisor']}; supervisor CPU "
                  f"{row['supervisor_cpu_ms_per_run']} ms/run, busiest supervisor "
                  f"{row['busiest_supervisor_cores']} core; ran/waited for CPU "
                  f"{row['supervisor_ran_waited']}; {cap_text(row)}CPU ms/run "
                  f"{row['cpu_ms_per_run']}; load {row['load']})", flush=True)
            return [row]

        rows = await side_by_side(["1", "3"], args.rounds, measure)
    cores = {n: round(median([max(r["supervisor_cores"]) for r in rows
                              if r["supervisors"] == n]), 2) for n in (1, 3)}
    medians = {n: round(median([r["runs_per_s"] for r in rows if r["supervisors"] == n]), 1)
               for n in (1, 3)}
    cpu = {n: round(median([r["supervisor_cpu_ms_per_run"] for r in rows
                            if r["supervisors"] == n]), 1) for n in (1, 3)}
    print(markdown_table(THROUGHPUT_COLUMNS, rows))
    print(f"median runs/s: 1 supervisor {medians[1]}, 3 supervisors {medians[3]} "
          f"-> {ratio(medians[3], medians[1]) or float('nan'):.2f}x; supervisor CPU per run "
          f"(all supervisors): {cpu[1]} ms against {cpu[3]} ms; busiest supervisor "
          f"{cores[1]} against {cores[3]} core"
          + (f" (cap {args.supervisor_cpu} core each)" if args.supervisor_cpu else "")
          + f"; load {rows[0]['load']}-{rows[-1]['load']}", flush=True)
    return {"throughput": rows, "median_runs_per_s": medians,
            "median_supervisor_cpu_ms_per_run": cpu,
            "median_busiest_supervisor_cores": cores,
            "supervisor_cpu_cap": args.supervisor_cpu}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"overhead": [], "throughput": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(args.logs or tmpdir)   # --logs: created by cli()
        async with private_broker() as broker:
            if not args.skip_overhead:
                sqlite_db = f"sqlite:///{tmp / 'overhead.db'}"
                results["overhead"].append(await overhead(broker.url, sqlite_db, args.steps,
                                                          args.reps))
                pg, drop = await pg_database()
                try:
                    results["overhead"].append(await overhead(broker.url, pg, args.steps,
                                                              args.reps))
                finally:
                    await drop()
                for row in results["overhead"]:
                    print(f"overhead [{row['db']}]: workflow of {row['steps']} no-op steps "
                          f"{row['workflow_ms']} ms, {row['steps']} direct calls "
                          f"{row['direct_ms']} ms -> {row['overhead_ms_per_step']} ms/step "
                          f"(median of {row['reps']})", flush=True)
            if not args.skip_throughput:
                results.update(await throughput(broker.url, broker.process.pid, tmp, args))
    return results


def cli() -> None:
    parser = bench_parser(__doc__, runs=300,
                          quick="a small smoke run of both parts (3 steps, 20 runs, 1 round)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--inflight", type=int, default=96)
    parser.add_argument("--warmup", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--agents", type=int, default=3,
                        help="no-op agent processes in the throughput part (steps alternate)")
    parser.add_argument("--step-ms", type=float, default=0.0,
                        help="I/O time of each step in the throughput part (agent sleep)")
    parser.add_argument("--max-runs", type=int, default=0,
                        help="runs one supervisor drives at once in the throughput part "
                             "(0: no limit)")
    parser.add_argument("--spy", type=Path, default=None, metavar="DIR",
                        help="record every supervisor with py-spy (raw) into DIR "
                             "while the runs are measured")
    parser.add_argument("--one-session", action="store_true",
                        help="keep the agents and supervisors in this process's session "
                             "(one CPU share under autogroup scheduling) instead of one "
                             "session each, as on separate hosts")
    parser.add_argument("--supervisor-cpu", type=float, default=None, metavar="CORES",
                        help="cap each supervisor process to CORES of CPU (0.25: a "
                             "quarter core) in a cgroup of its own, standing in for a "
                             "small host of its own (Linux; needs a writable cgroup cpu "
                             "controller, v1 or v2: root)")
    parser.add_argument("--logs", type=Path, default=None, metavar="DIR",
                        help="keep the workflow files and the processes' logs in DIR")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--serve-agent", nargs=3, metavar=("URL", "REF", "DELAY"),
                        default=None)
    args = finish_args(parser, None, steps=3, reps=3, runs=20, inflight=8, warmup=2,
                       rounds=1)
    if args.serve_agent:
        _serve_agent(*args.serve_agent)
        return
    if args.supervisor_cpu is not None:
        try:   # refused before anything starts, with the reason
            quota_for(args.supervisor_cpu)
            find_controller()
        except (CpuCapError, OSError) as exc:
            parser.error(f"--supervisor-cpu: {exc}")
        interrupt_on_term()   # kill or Ctrl-C: the cgroups are removed on the way out
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(main(args))
    if args.json is not None:
        write_json("workflow_overhead", results, args.json)


if __name__ == "__main__":
    cli()
