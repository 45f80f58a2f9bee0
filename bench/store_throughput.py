"""Task-store cost: one echo agent on memory, SQLite and PostgreSQL, side by side in one run.

    python bench/store_throughput.py                 # 3 rounds, 100 in flight, ~3 min
    python bench/store_throughput.py --runs 5 --seconds 10 --json out.json
    python bench/store_throughput.py --quick         # smoke run

Each variant is one agent process (``AgentServer``, defaults, ``BenchExecutor`` from
``_common.py``); the bench starts one Mosquitto of its own for all of them. The
client (this process, ``A2AMqttClient``) keeps ``--inflight`` unary SendMessage calls
(QoS 1) outstanding for ``--seconds``. Every round runs every variant once, in a
rotated order, so load on the shared machine falls on all of them alike; the report
gives medians over rounds and each variant's ratio to ``memory`` in the same round
(median of the per-round ratios).

Variants: ``memory`` (bounded in-memory store), ``sqlite`` / ``postgres`` (the
default database stores: group commit, server/groupcommit.py; on PostgreSQL one
statement per batch, server/pgbatch.py), ``postgres-multi`` (group commit with the
general statements, a transaction of several per batch: PostgreSQL before pgbatch),
``sqlite-plain`` / ``postgres-plain`` (a2a-sdk's ``VersionedDatabaseTaskStore`` alone:
one transaction per task event — the store before group commit). The client leaves
Task.id and contextId to the transport (``binding.stream.new_task_id``: time-ordered
UUIDv7s, as every user of ``A2AMqttClient`` gets them); a ``-v4`` suffix (``sqlite-v4``,
``postgres-v4``) sets random UUIDv4s instead, as other requesters may send them
(docs/performance.md, Round 6). Each database variant gets a fresh file / database,
removed afterwards. CPU per request is the agent process's
user+system time over the requests it answered (PostgreSQL's own CPU not included);
"KiB/req" what it wrote to files (``/proc/PID/io`` ``wchar``: SQLite's WAL frames and
checkpoint copies; socket sends are not counted there).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# a2a-sdk's spans off in the agents, as the a2a-mqtt command sets them (before a2a-sdk loads).
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_TEXT, BenchExecutor, bench_card, proc_cpu_seconds
from a2a_mqtt.connection import ConnectionSettings
from harness.spy import start_py_spy, stop_py_spy

SCRIPT = Path(__file__).resolve()
ORG, UNIT = "bench", "stores"
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
VARIANTS = ("memory", "sqlite", "sqlite-plain", "postgres", "postgres-multi", "postgres-plain")
# Also accepted: sqlite-v4, postgres-v4 (random Task.ids; not in the default list).


# -- the agent process ----------------------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    from a2a_mqtt._loop import tune_gc
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.server import AgentServer, agent, stores
    from a2a_mqtt.server.config import AgentConfig

    # The collector as `a2a-mqtt serve` leaves it, as a2a_compare's `ours` server does
    # (a2a_mqtt._loop.run tunes it; this child runs on asyncio.run). A2A_MQTT_GC=default
    # measures without.
    tune_gc()

    if args.plain:  # the SDK's store alone, for the before/after rows
        setattr(agent, "open_task_store",  # noqa: B010 - the bench's own switch
                functools.partial(stores.open_task_store, group_commit=False))
    if args.multi:  # group commit with the general statements (no one-statement batch)
        from a2a_mqtt.server.groupwriter import GroupWriter

        GroupWriter.ONE_STATEMENT = frozenset()
    config = AgentConfig(ref=AgentRef(ORG, UNIT, args.agent), card=bench_card(),
                         executor=BenchExecutor(),
                         connection=ConnectionSettings(url=args.broker),
                         task_store_url=args.store, fast_path=args.handler == "lean")
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    async with AgentServer(config):
        print("READY", flush=True)
        if profiler is not None:
            profiler.enable()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)


# -- the driver -----------------------------------------------------------------------


@dataclass
class Row:
    variant: str
    round: int
    rps: float
    p50_ms: float
    errors: int
    server_cpu_ms: float | None
    written_kib: float | None = None
    """KiB the agent wrote to files per request (``wchar``: WAL frames, checkpoint copies)."""


class Store:
    """A fresh store URL for one variant (file or database), removed afterwards."""

    def __init__(self, variant: str, tmp: Path, postgres: str) -> None:
        self.kind = variant.split("-", maxsplit=1)[0]
        self.tmp, self.postgres, self.dbname, self.url = tmp, postgres, "", ""

    async def __aenter__(self) -> str:
        if self.kind == "memory":
            self.url = "memory://"
        elif self.kind == "sqlite":
            self.url = f"sqlite:///{self.tmp}/{uuid.uuid4().hex[:8]}.db"
        else:
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            self.dbname = f"a2a_store_bench_{uuid.uuid4().hex[:10]}"
            conn = await asyncpg.connect(self.postgres, timeout=10)
            try:
                await conn.execute(f'CREATE DATABASE "{self.dbname}"')
            finally:
                await conn.close()
            self.url = f"{self.postgres.rpartition('/')[0]}/{self.dbname}"
        return self.url

    async def __aexit__(self, *_: object) -> None:
        if self.dbname:
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            conn = await asyncpg.connect(self.postgres, timeout=10)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            finally:
                await conn.close()


async def one(variant: str, rnd: int, args: argparse.Namespace, broker: str,
              tmp: Path) -> Row:
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState

    from a2a_mqtt.client import A2AMqttClient, RequesterConfig

    agent = f"{variant.replace('-', '')}-{uuid.uuid4().hex[:6]}"
    async with Store(variant, tmp, args.postgres) as url:
        cmd = [sys.executable, str(SCRIPT), "--serve", "--broker", broker, "--agent", agent,
               "--store", url] + (["--plain"] if variant.endswith("-plain") else [])
        cmd += ["--multi"] if variant.endswith("-multi") else []
        cmd += ["--handler", args.handler]
        if args.profile_dir:
            cmd += ["--profile", str(args.profile_dir / f"{variant}-{rnd}.prof")]
        proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdin is not None
        try:
            async with asyncio.timeout(60):
                while (await proc.stdout.readline()).strip() != b"READY":
                    if proc.returncode is not None:
                        raise RuntimeError(f"{variant} agent exited")
            config = RequesterConfig(connection=ConnectionSettings(url=broker),
                                     payload_encoding=args.encoding)
            async with A2AMqttClient(config, discover=False) as client:
                t = client.transport_for(f"{ORG}/{UNIT}/{agent}")
                random_ids = variant.endswith("-v4")

                async def request() -> None:
                    msg = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER,
                                  parts=[Part(text=BENCH_TEXT)])
                    if random_ids:
                        msg.task_id, msg.context_id = str(uuid.uuid4()), str(uuid.uuid4())
                    reply = await t.send_message(SendMessageRequest(message=msg))
                    if reply.task.status.state != TaskState.TASK_STATE_COMPLETED:
                        raise RuntimeError("not completed")

                await asyncio.gather(*(request() for _ in range(min(args.inflight, 50))))
                latencies: list[float] = []
                errors = 0
                stop_at = time.perf_counter() + args.seconds

                async def worker() -> None:
                    nonlocal errors
                    while time.perf_counter() < stop_at:
                        t0 = time.perf_counter()
                        try:
                            async with asyncio.timeout(60):
                                await request()
                        except Exception:  # counted, reported
                            errors += 1
                            continue
                        latencies.append(time.perf_counter() - t0)

                spy = None
                if args.spy_dir:
                    spy = await start_py_spy(proc.pid, args.spy_dir / f"{variant}-{rnd}.txt",
                                             args.spy_rate, *(("--native", "--threads")
                                                              if args.spy_native else ()))
                cpu0, wchar0 = proc_cpu_seconds(proc.pid), _written(proc.pid)
                start = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(args.inflight)))
                elapsed = time.perf_counter() - start
                cpu1, wchar1 = proc_cpu_seconds(proc.pid), _written(proc.pid)
                if spy is not None:
                    await stop_py_spy(spy, log=logging.getLogger("bench"))
        finally:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    n = len(latencies)
    cpu = None if cpu0 is None or cpu1 is None or not n else (cpu1 - cpu0) * 1000 / n
    kib = None if wchar0 is None or wchar1 is None or not n else (wchar1 - wchar0) / 1024 / n
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    return Row(variant, rnd, n / elapsed, p50, errors, cpu, kib)


def _written(pid: int) -> int | None:
    """``wchar`` of ``/proc/PID/io`` (Linux), or None."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))
    except (OSError, StopIteration, ValueError):
        return None


async def run(args: argparse.Namespace) -> list[Row]:
    from a2a_mqtt.broker import BrokerConfig, MosquittoProcess

    variants = [v for v in args.variants.split(",") if v]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmpdir:
        broker = MosquittoProcess(config=BrokerConfig(state_dir=Path(tmpdir) / "broker"))
        await asyncio.to_thread(broker.start)
        try:
            for rnd in range(args.runs):
                order = variants[rnd % len(variants):] + variants[:rnd % len(variants)]
                for variant in order:
                    row = await one(variant, rnd, args, broker.url, Path(tmpdir))
                    rows.append(row)
                    print(f"round {rnd} {variant:15} {row.rps:8.1f} req/s  p50 "
                          f"{row.p50_ms:7.1f} ms  cpu {row.server_cpu_ms or 0:5.2f} ms/req  "
                          f"written {row.written_kib or 0:5.1f} KiB/req  errors {row.errors}",
                          flush=True)
        finally:
            await asyncio.to_thread(broker.stop)
    return rows


def report(rows: list[Row]) -> dict[str, Any]:
    by: dict[str, list[Row]] = {}
    for r in rows:
        by.setdefault(r.variant, []).append(r)
    mem = {r.round: r.rps for r in by.get("memory", [])}
    out: dict[str, Any] = {}
    print(f"\n{'variant':15} {'req/s':>8} {'p50 ms':>8} {'cpu ms/req':>10} {'x memory':>9} "
          f"{'KiB/req':>8}")
    for variant, rs in by.items():
        ratios = [r.rps / mem[r.round] for r in rs if mem.get(r.round)]
        cpus = [r.server_cpu_ms for r in rs if r.server_cpu_ms is not None]
        written = [r.written_kib for r in rs if r.written_kib is not None]
        med = {"rps": statistics.median(r.rps for r in rs),
               "p50_ms": statistics.median(r.p50_ms for r in rs),
               "cpu_ms": statistics.median(cpus) if cpus else None,
               "vs_memory": statistics.median(ratios) if ratios else None,
               "written_kib": statistics.median(written) if written else None,
               "errors": sum(r.errors for r in rs)}
        out[variant] = med
        print(f"{variant:15} {med['rps']:8.1f} {med['p50_ms']:8.1f} "
              f"{med['cpu_ms'] or float('nan'):10.2f} {med['vs_memory'] or float('nan'):9.2f} "
              f"{float('nan') if med['written_kib'] is None else med['written_kib']:8.1f}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--broker", default="")
    p.add_argument("--agent", default="")
    p.add_argument("--store", default="memory://")
    p.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--multi", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--inflight", type=int, default=100)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", POSTGRES_DEFAULT))
    p.add_argument("--quick", action="store_true", help="1 round of 2 s")
    p.add_argument("--profile", help=argparse.SUPPRESS)
    p.add_argument("--profile-dir", type=Path,
                   help="cProfile each agent into DIR/VARIANT-ROUND.prof")
    p.add_argument("--spy-dir", type=Path,
                   help="py-spy each agent while measured into DIR/VARIANT-ROUND.txt (raw)")
    p.add_argument("--spy-rate", type=int, default=250)
    p.add_argument("--spy-native", action="store_true",
                   help="py-spy with --native --threads (C frames: SQLite's own work, "
                        "system calls; samples per thread)")
    p.add_argument("--handler", choices=("lean", "sdk"), default="lean",
                   help="the agents' request handler: lean (AgentConfig.fast_path, the "
                        "default) or a2a-sdk's own (fast_path=False)")
    p.add_argument("--encoding", choices=("auto", "json"), default="auto",
                   help="the client's payload_encoding: auto (binary replies, as "
                        "A2AMqttClient asks by default) or json (as JSON-only requesters)")
    p.add_argument("--json", type=Path, help="write rows and medians here")
    args = p.parse_args()
    if args.serve:
        asyncio.run(serve(args))
        return
    if args.quick:
        args.runs, args.seconds = 1, 2.0
    for folder in (args.profile_dir, args.spy_dir):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(run(args))
    summary = report(rows)
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows],
                                         "medians": summary, "load1": os.getloadavg()[0],
                                         "args": {k: str(v) for k, v in vars(args).items()}},
                                        indent=2))


if __name__ == "__main__":
    main()
