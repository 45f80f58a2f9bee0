"""Workflow orchestration cost: overhead per step, and 1 supervisor against 3 (issue #14).

Usage::

    python bench/workflow_overhead.py                 # both parts (~3 min)
    python bench/workflow_overhead.py --steps 10 --reps 15 --runs 100 --inflight 20 --rounds 3
    python bench/workflow_overhead.py --json /tmp/wf.json

Part 1, overhead per step: one no-op agent (completes at once, in-memory store) and
one supervisor, in this process, on one Mosquitto. Alternately, ``--reps`` times:
(a) a workflow of ``--steps`` no-op steps in a chain, called as one streaming task
until its final artifact; (b) the same number of streaming calls made directly to
the agent, one after the other. Overhead per step = (median(a) - median(b)) / steps.
Measured with the run database on SQLite and on PostgreSQL.

Part 2, throughput on PostgreSQL: 1 and then 3 supervisor processes (``a2a-mqtt
workflow serve --max-runs 8``: each drives at most 8 runs at once, the capacity of
one supervisor) and 2 agent processes whose steps take ``--step-ms`` (50 ms) of I/O
(the 3-step workflow alternates between them by reference); this process keeps
``--inflight`` (40) runs going until
``--runs`` have completed (after ``--warmup`` unmeasured ones): runs/s = completed
runs / time to the last. Each measurement gets a fresh database; the 1- and
3-supervisor measurements alternate ``--rounds`` times and the medians are compared.
Supervisor CPU per run is read from /proc. The machine has 2
cores shared with the broker, PostgreSQL, the agents and this client: read the
ratio, not the absolute numbers.

Built on the shared harness (bench/harness/): the agent is its ``BenchExecutor``
(with ``delay`` for the step's I/O), the broker its ``private_broker``, CPU its
``CpuMeter``, the 1-against-3 rounds its ``side_by_side`` (order rotated each
round), medians and the ratio its ``stats``, the table and ``--json`` its
``report``. ``--runs`` keeps this bench's meaning (workflow runs per throughput
measurement); ``--rounds`` is the number of side-by-side rounds; ``--quick`` is a
small smoke run of both parts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
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
    CpuMeter,
    bench_parser,
    finish_args,
    markdown_table,
    median,
    ratio,
    side_by_side,
    write_json,
)
from harness.procs import private_broker

SCRIPT = Path(__file__).resolve()
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


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


# --- helpers -------------------------------------------------------------------------


def chain(name: str, steps: int, agents: list[str]) -> str:
    lines = [f"name: {name}", "steps:"]
    for i in range(steps):
        lines += [f"  s{i}:", f"    agent: {{ref: {agents[i % len(agents)]}}}",
                  "    input: go"]
        if i:
            lines.append(f"    needs: s{i - 1}")
    lines += ["output:", f"  text: \"${{steps.s{steps - 1}.output.text}}\""]
    return "\n".join(lines) + "\n"


async def _pg_database() -> tuple[str, Any]:
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"a2a_mqtt_wfbench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES.replace("postgresql://", "postgresql+asyncpg://", 1),
                                isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        async with admin.connect() as conn:
            await conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return POSTGRES.rsplit("/", 1)[0] + f"/{name}", drop


async def run_once(client: Any, inputs: dict[str, Any] | None = None) -> bool:
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState

    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                      task_id=str(uuid.uuid4()), parts=[Part(text=json.dumps(inputs or {}))])
    state = None
    async for item in client.send_message(SendMessageRequest(message=message)):
        if item.HasField("status_update"):
            state = item.status_update.status.state
    return state == TaskState.TASK_STATE_COMPLETED


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


# --- part 2 --------------------------------------------------------------------------


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PYTHONPATH": str(SCRIPT.parents[1] / "src")})


async def throughput(url: str, supervisors: int, *, runs: int, inflight: int, warmup: int,
                     tmp: Path, step_ms: float, max_runs: int) -> dict[str, Any]:
    from a2a_mqtt.client import A2AMqttClient, RequesterConfig
    from a2a_mqtt.connection import ConnectionSettings

    db, drop = await _pg_database()
    name = f"tp{uuid.uuid4().hex[:6]}"
    agents = [f"bench/wf/{name}-a{i}" for i in range(2)]
    file = tmp / f"{name}.yaml"
    file.write_text(chain(name, 3, agents))
    procs = [_spawn([sys.executable, str(SCRIPT), "--serve-agent", url, ref,
                     str(step_ms / 1000)],
                    tmp / f"{name}-agent{i}.log") for i, ref in enumerate(agents)]
    logs = [tmp / f"{name}-sup{i}.log" for i in range(supervisors)]
    procs += [_spawn([sys.executable, "-m", "a2a_mqtt", "-v", "workflow", "serve", str(file),
                      "--db", db, "--broker", url, "--org", "bench", "--unit", "wf",
                      "--id", f"{name}-sup{i}", "--lease-ttl", "15",
                      "--max-runs", str(max_runs)], logs[i])
              for i in range(supervisors)]
    try:
        deadline = time.monotonic() + 60
        while not all(p.exists() and "workflows: supervisor" in p.read_text() for p in logs):
            assert time.monotonic() < deadline, "supervisors did not start"
            await asyncio.sleep(0.1)
        async with A2AMqttClient(RequesterConfig(connection=ConnectionSettings(url=url),
                                                 max_attempts=1,
                                                 reply_first_timeout=60,
                                                 stream_idle_timeout=60)) as mqtt:
            for ref in agents:
                await mqtt.resolve(ref, timeout=30)
            client = await mqtt.connect(f"bench/wf/{name}", timeout=30)
            await asyncio.gather(*(run_once(client) for _ in range(warmup)))
            done = failed = 0
            queue = iter(range(runs))

            async def worker() -> None:
                nonlocal done, failed
                for _ in queue:
                    if await run_once(client):
                        done += 1
                    else:
                        failed += 1

            cpu = CpuMeter({f"sup{i}": p.pid for i, p in enumerate(procs[len(agents):])})
            cpu.start()
            start = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(inflight))), 300)
            elapsed = time.perf_counter() - start
            cpu_ms = sum(v or 0.0 for v in cpu.per_request(done).values())
            load = os.getloadavg()[0]
        owners = await _owners(db)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        await drop()
    return {"supervisors": supervisors, "runs": runs, "failed": failed,
            "runs_per_s": round(done / elapsed, 1), "seconds": round(elapsed, 2),
            "supervisor_cpu_ms_per_run": round(cpu_ms, 1),
            "load": round(load, 1),
            "runs_per_supervisor": owners}


async def _owners(db: str) -> dict[str, int]:
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sqlalchemy.text(
                "SELECT owner, count(*) FROM workflow_run GROUP BY owner ORDER BY owner"))
            return {str(r[0]).rsplit("-", 1)[-1]: int(r[1]) for r in rows}
    finally:
        await engine.dispose()


# --- main ----------------------------------------------------------------------------


THROUGHPUT_COLUMNS = [("supervisors", ""), ("runs/s", ".1f", "runs_per_s"),
                      ("failed", ".0f"), ("supervisor CPU ms/run", ".1f",
                                          "supervisor_cpu_ms_per_run"),
                      ("load", ".1f"), ("runs per supervisor", "", "runs_per_supervisor")]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"overhead": [], "throughput": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        async with private_broker() as broker:
            if not args.skip_overhead:
                sqlite_db = f"sqlite:///{tmp / 'overhead.db'}"
                results["overhead"].append(await overhead(broker.url, sqlite_db, args.steps,
                                                          args.reps))
                pg, drop = await _pg_database()
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
                async def measure(variant: str, _round: int) -> list[dict[str, Any]]:
                    n = int(variant)
                    row = await throughput(broker.url, n, runs=args.runs,
                                           inflight=args.inflight, warmup=args.warmup,
                                           tmp=tmp, step_ms=args.step_ms,
                                           max_runs=args.max_runs)
                    print(f"throughput [postgresql]: {n} supervisor(s) "
                          f"{row['runs_per_s']} runs/s ({row['runs']} runs of 3 steps, "
                          f"{args.inflight} in flight, {row['failed']} failed; runs per "
                          f"supervisor {row['runs_per_supervisor']}; supervisor CPU "
                          f"{row['supervisor_cpu_ms_per_run']} ms/run, load "
                          f"{row['load']})", flush=True)
                    return [row]

                # Side by side, the order rotated each round, so a change in the
                # machine's load hits both variants.
                results["throughput"] = await side_by_side(["1", "3"], args.rounds, measure)
                medians = {n: median([r["runs_per_s"] for r in results["throughput"]
                                      if r["supervisors"] == n]) for n in (1, 3)}
                results["median_runs_per_s"] = medians
                print(markdown_table(THROUGHPUT_COLUMNS, results["throughput"]))
                print(f"median runs/s: 1 supervisor {medians[1]}, 3 supervisors {medians[3]} "
                      f"-> {ratio(medians[3], medians[1]) or float('nan'):.2f}x", flush=True)
    return results


def cli() -> None:
    parser = bench_parser(__doc__, runs=150,
                          quick="a small smoke run of both parts (3 steps, 20 runs, 1 round)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--inflight", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step-ms", type=float, default=50.0,
                        help="I/O time of each step in the throughput part (agent sleep)")
    parser.add_argument("--max-runs", type=int, default=8,
                        help="runs one supervisor drives at once in the throughput part "
                             "(0: no limit)")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--serve-agent", nargs=3, metavar=("URL", "REF", "DELAY"),
                        default=None)
    args = finish_args(parser, None, steps=3, reps=3, runs=20, inflight=8, warmup=2,
                       rounds=1)
    if args.serve_agent:
        _serve_agent(*args.serve_agent)
        return
    results = asyncio.run(main(args))
    if args.json is not None:
        write_json("workflow_overhead", results, args.json)


if __name__ == "__main__":
    cli()
