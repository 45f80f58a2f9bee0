"""1 supervisor against 3 on PostgreSQL: both set-ups alive at once, measured in turns.

A set-up is its own PostgreSQL database, ``agents`` no-op agent processes and ``n``
supervisor processes (``a2a-mqtt workflow serve``) serving one 3-step workflow.
Both set-ups are started first and warmed up (``warmup`` runs, as many at once as
will be measured, so every connection pool is open), then measured in turns —
1, 3, 3, 1, 1, 3, ... (``side_by_side``): a window keeps ``inflight`` runs going
until ``runs`` have completed. The set-up not being measured is idle (a lease
scan every few seconds). Per window: runs/s, the CPU per run of every process on
the path (each supervisor, the agents, the PostgreSQL backends of its database,
the broker, this client), and each supervisor's share of the wall time it ran
and waited runnable for a CPU (/proc/PID/task/*/schedstat).

With ``cpu_cap`` (cores), each supervisor process runs in a cgroup of its own capped
to that much CPU (``harness.cpucap``), standing in for a small host of its own; a
window then also reports each supervisor's CPU use in cores and the share of CFS
periods in which it hit its cap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from harness import CpuMeter
from harness.cpucap import CpuCap, cpu_cap
from harness.spy import start_py_spy, stop_py_spy

__all__ = ["Setup", "pg_database"]

LOG = logging.getLogger("bench.workflow_overhead")
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def chain(name: str, steps: int, agents: list[str]) -> str:
    lines = [f"name: {name}", "steps:"]
    for i in range(steps):
        lines += [f"  s{i}:", f"    agent: {{ref: {agents[i % len(agents)]}}}",
                  "    input: go"]
        if i:
            lines.append(f"    needs: s{i - 1}")
    lines += ["output:", f"  text: \"${{steps.s{steps - 1}.output.text}}\""]
    return "\n".join(lines) + "\n"


async def pg_database() -> tuple[str, Any]:
    """A fresh database on the local PostgreSQL; its URL and an async ``drop()``."""
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
    import json

    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState

    message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                      task_id=str(uuid.uuid4()), parts=[Part(text=json.dumps(inputs or {}))])
    state = None
    async for item in client.send_message(SendMessageRequest(message=message)):
        if item.HasField("status_update"):
            state = item.status_update.status.state
    return state == TaskState.TASK_STATE_COMPLETED


def _spawn(args: list[str], log: Path, *, session: bool) -> subprocess.Popen[bytes]:
    """A child process; with ``session``, in a session of its own (see ``Setup``)."""
    src = Path(__file__).resolve().parents[2] / "src"
    with open(log, "ab") as err:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PYTHONPATH": str(src)},
                                start_new_session=session)


def _pg_cpu(db: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``db`` (found by the database name
    in its process title, so backends that a pool opens mid-run count too)."""
    from harness.cpu import proc_cpu_seconds

    name = db.rsplit("/", 1)[1].encode()
    out: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                title = fh.read()
        except OSError:
            continue
        if title.startswith(b"postgres:") and name in title:
            seconds = proc_cpu_seconds(int(entry))
            if seconds is not None:
                out[int(entry)] = seconds
    return out


def _sched(pid: int) -> tuple[float, float]:
    """Seconds a process's threads ran on a CPU, and waited runnable for one."""
    ran = waited = 0.0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                fields = fh.read().split()
        except OSError:
            continue
        ran += int(fields[0]) / 1e9
        waited += int(fields[1]) / 1e9
    return ran, waited


class Setup:
    """``n`` supervisors, their agents and database, alive for several measurements.

    With ``sessions`` (the default), every agent and supervisor process runs in a
    session of its own, as on separate hosts. Linux's autogroup scheduling
    (``/proc/sys/kernel/sched_autogroup_enabled``) gives each session one share of
    the CPUs, whatever its number of processes: in the bench's own session three
    supervisors would split the one share one supervisor gets, on a machine that
    others keep busy, and the comparison would measure the session, not the
    supervisors.
    """

    def __init__(self, *, url: str, n: int, tmp: Path, agent_script: Path, n_agents: int,
                 step_ms: float, max_runs: int, broker_pid: int | None,
                 sessions: bool = True, cpu_cap: float | None = None) -> None:
        self.url, self.n, self.tmp = url, n, tmp
        self.agent_script, self.n_agents = agent_script, n_agents
        self.step_ms, self.max_runs, self.broker_pid = step_ms, max_runs, broker_pid
        self.sessions, self.cpu_cap = sessions, cpu_cap
        self.caps: list[CpuCap] = []
        self.name = f"tp{n}x{uuid.uuid4().hex[:6]}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sup_pids: list[int] = []
        self.client: Any = None
        self.db = ""
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Setup:
        from a2a_mqtt.client import A2AMqttClient, RequesterConfig
        from a2a_mqtt.connection import ConnectionSettings

        try:
            if self.cpu_cap is not None:   # removed last: after the processes stop
                self.caps = [self._stack.enter_context(cpu_cap(
                    self.cpu_cap, name=f"a2a-mqtt-bench-{self.name}-sup{i}"))
                    for i in range(self.n)]
            self.db, drop = await pg_database()
            self._stack.push_async_callback(drop)
            self._stack.callback(self._stop_procs)
            agents = [f"bench/wf/{self.name}-a{i}" for i in range(self.n_agents)]
            file = self.tmp / f"{self.name}.yaml"
            file.write_text(chain(self.name, 3, agents))
            self.procs = [_spawn([sys.executable, str(self.agent_script), "--serve-agent",
                                  self.url, ref, str(self.step_ms / 1000)],
                                 self.tmp / f"{self.name}-agent{i}.log",
                                 session=self.sessions)
                          for i, ref in enumerate(agents)]
            logs = [self.tmp / f"{self.name}-sup{i}.log" for i in range(self.n)]
            sups = [_spawn([sys.executable, "-m", "a2a_mqtt", "-v", "workflow", "serve",
                            str(file), "--db", self.db, "--broker", self.url, "--org",
                            "bench", "--unit", "wf", "--id", f"{self.name}-sup{i}",
                            "--lease-ttl", "15", "--max-runs", str(self.max_runs)], logs[i],
                           session=self.sessions)
                    for i in range(self.n)]
            self.procs += sups
            for cap, proc in zip(self.caps, sups, strict=False):
                cap.add(proc.pid)   # importing takes far longer than this: capped from the start
            self.sup_pids = [p.pid for p in sups]
            deadline = time.monotonic() + 60
            while not all(p.exists() and "workflows: supervisor" in p.read_text()
                          for p in logs):
                assert time.monotonic() < deadline, "supervisors did not start"
                await asyncio.sleep(0.1)
            mqtt = await self._stack.enter_async_context(A2AMqttClient(RequesterConfig(
                connection=ConnectionSettings(url=self.url), max_attempts=1,
                reply_first_timeout=60, stream_idle_timeout=60)))
            for ref in agents:
                await mqtt.resolve(ref, timeout=30)
            self.client = await mqtt.connect(f"bench/wf/{self.name}", timeout=30)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _stop_procs(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()

    async def drive(self, runs: int, inflight: int) -> tuple[int, int, float]:
        """``runs`` runs, ``inflight`` at a time: completed, failed, seconds."""
        done = failed = 0
        queue = iter(range(runs))

        async def worker() -> None:
            nonlocal done, failed
            for _ in queue:
                try:
                    ok = await run_once(self.client)
                except Exception as exc:  # counted, never timed (a bench reports errors)
                    LOG.warning("run failed: %s", exc)
                    ok = False
                if ok:
                    done += 1
                else:
                    failed += 1

        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(inflight))), 300)
        return done, failed, time.perf_counter() - start

    async def measure(self, *, runs: int, inflight: int, spy: Path | None,
                      window: int) -> dict[str, Any]:
        pids: dict[str, int | None] = {f"sup{i}": pid for i, pid in enumerate(self.sup_pids)}
        pids.update({f"agent{i}": p.pid for i, p in enumerate(self.procs[:self.n_agents])})
        pids["client"] = None
        if self.broker_pid is not None:
            pids["broker"] = self.broker_pid
        spies = [await start_py_spy(pid, spy / f"{self.name}-w{window}-sup{i}.txt", 200)
                 for i, pid in enumerate(self.sup_pids)] if spy is not None else []
        owned0 = await self.owners()
        pg_start = _pg_cpu(self.db)
        sched_start = [_sched(pid) for pid in self.sup_pids]
        throttle_start = [cap.throttled() for cap in self.caps]
        cpu = CpuMeter(pids)
        cpu.start()
        done, failed, elapsed = await self.drive(runs, inflight)
        per = {k: v or 0.0 for k, v in cpu.per_request(done).items()}
        pg_end = _pg_cpu(self.db)
        sched = [tuple(b - a for a, b in zip(s0, _sched(pid), strict=True))
                 for s0, pid in zip(sched_start, self.sup_pids, strict=True)]
        load = os.getloadavg()[0]
        throttled = [tuple(b - a for a, b in zip(t0, cap.throttled(), strict=True))
                     for t0, cap in zip(throttle_start, self.caps, strict=True)]
        for proc in spies:
            await stop_py_spy(proc, log=LOG)
        owned = {k: v - owned0.get(k, 0) for k, v in (await self.owners()).items()}
        per["pg"] = sum(t - pg_start.get(pid, 0.0) for pid, t in pg_end.items()) \
            * 1000 / max(1, done)
        sup_ms = {k: round(v, 1) for k, v in per.items() if k.startswith("sup")}
        cpu_ms = sum(sup_ms.values())
        return {"supervisors": self.n, "runs": runs, "failed": failed,
                "runs_per_s": round(done / elapsed, 1), "seconds": round(elapsed, 2),
                "supervisor_cpu_ms_per_run": round(cpu_ms, 1),
                "cpu_ms_per_run_by_supervisor": sup_ms,
                "cpu_ms_per_run": {
                    "supervisors": round(cpu_ms, 1),
                    "agents": round(sum(v for k, v in per.items() if k.startswith("agent")),
                                    1),
                    "postgres": round(per["pg"], 1),
                    "broker": round(per.get("broker", 0.0), 1),
                    "client": round(per["client"], 1)},
                "busiest_supervisor_cores": round(max(sup_ms.values()) * done / elapsed
                                                  / 1000, 2),
                "supervisor_ran_waited": [(round(r / elapsed, 2), round(w / elapsed, 2))
                                          for r, w in sched],
                "supervisor_cores": [round(v * done / elapsed / 1000, 2)
                                     for v in sup_ms.values()],
                "cpu_cap": self.cpu_cap,
                # share of the 100 ms periods a supervisor ran in that ended at its cap
                "supervisor_throttled": [round(t / p, 2) if p else 0.0
                                         for p, t in throttled],
                "load": round(load, 1), "runs_per_supervisor": owned}

    async def owners(self) -> dict[str, int]:
        import sqlalchemy
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(self.db.replace("postgresql://",
                                                     "postgresql+asyncpg://", 1))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sqlalchemy.text(
                    "SELECT owner, count(*) FROM workflow_run GROUP BY owner ORDER BY owner"))
                return {str(r[0]).rsplit("-", 1)[-1]: int(r[1]) for r in rows}
        except Exception:
            return {}  # no table yet
        finally:
            await engine.dispose()
