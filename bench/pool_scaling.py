"""Pool scaling: throughput of 1, 2 and 4 pool members against one non-pooled agent.

Usage::

    python bench/pool_scaling.py                  # what docs/performance.md reports:
                                                  # 3 runs x 400 requests per row (~15 min)
    python bench/pool_scaling.py --runs 5         # a steadier median
    python bench/pool_scaling.py --quick          # 1 run, PostgreSQL rows only, no py-spy
    python bench/pool_scaling.py --concurrency 4  # members that run 4 turns at once
    python bench/pool_scaling.py --json /tmp/pools.json   # also write all results

The question: does adding members add capacity? A member is one Python process
whose capacity is bounded — by ``max_concurrency`` (``--concurrency``, default
1: one turn at a time, like an agent that drives one model session or one tool
instance) and by the one CPU core a process can use. The executor waits 50 ms
per task (I/O bound) and 200 requests stay in flight, far more than 4 members
can take, so every row is limited by its members, never by the offered load:
the ideal ratios are 2 and 4. With ``--concurrency 1`` one member needs about a
third of a core, so 4 members plus the broker, PostgreSQL and this client fit
on this 2-core machine and the ratio measures the pool. With 4 or 16 slots a
single member already fills a core (the database store costs ~20 ms of CPU per
request, docs/performance.md), and 4 members would need more cores than the
machine has: those runs measure the machine, and the report says so (member
CPU in cores, machine busy).

What runs:

* one Mosquitto (``EmbeddedBroker``, the generated config: persistence on,
  ``max_queued_messages 0``, ``max_inflight_messages 1000``) for the whole
  bench; every measurement uses its own pool id and member ids, so no session
  or claim left by one measurement can touch the next;
* every agent is a separate process (this script re-invoked with ``--serve``),
  like ``tests/behaviour/pool/member.py``, running ``SleepyExecutor``: enqueue
  the Task, ``asyncio.sleep(--delay)``, add one artifact with the input text,
  complete;
* the client (this process) keeps ``--inflight`` unary SendMessage requests in
  flight through one ``A2AMqttClient`` until ``--requests`` are answered, after
  ``--warmup`` requests that are not measured; no retries (``max_attempts=1``)
  and a 90 s first-reply timeout, so every failure shows; throughput is
  answers / time to the last answer;
* the task store is shared by all members, fresh for each measurement: a
  throwaway PostgreSQL database when one answers at ``--postgres`` (default
  ``postgresql://postgres@127.0.0.1:5432/test``; created, dropped after), and a
  SQLite file (``sqlite:///<tmp>/pool-<id>.db``, WAL as ``open_task_store``
  sets it).

Rows (``--configs``):

* ``single``: one agent, no pool, addressed directly (same store, executor and
  max_concurrency) — the baseline the pool is compared with;
* ``pool-1``, ``pool-2``, ``pool-4``: N members of pool ``bench/pool/pool/<id>``,
  requests published to the pool topic. ``pool_dispatch`` is ``auto``: on
  Mosquitto it probes and falls back to ``claim`` (every member receives
  every request; a member with a free slot claims the oldest copy nobody holds);
* ``rr-4`` (control): the same 4 members, but the client sends request i to
  member i mod 4's *own* topic: what perfect broker-side dispatch (``$share``)
  would give, without claims;
* ``single-mem`` (control): the single agent with the in-memory store, to
  separate the database's cost from the rest.

Per row: req/s, p50/p99 latency, errors, and CPU per answered request of the
members, the broker, the client and (PostgreSQL rows) every ``postgres``
process, read from /proc over the measured window; each member's CPU in cores
and its run-queue wait (schedstat: runnable but no CPU); the machine's busy
share, ours and all processes' (/proc/stat) — together they tell whether the
machine, rather than the pool, is the limit. In claim mode also how many
copies each member received and dropped as claimed by another member, and the
time spent claiming (counted by wrappers in the member process; the server
code is unchanged), plus ``OperationalError``s and dead request tasks found in
the members' logs. With ``--spy`` one extra ``--spy-config`` measurement
records agent 0 with py-spy and splits its event-loop samples into database,
a2a-sdk, MQTT transport, our code and the loop.

Every wait is bounded: each request phase by ``--max-seconds``, the whole bench
by ``--deadline`` (no new measurement starts after it; what was measured is
still reported). Numbers: medians over ``--runs``; the machine is shared and
noisy, so read ratios and CPU per request, not absolute req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _spy import have_py_spy, start_py_spy, stop_py_spy
from a2a_mqtt.connection import ConnectionSettings

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
ORG, UNIT = "bench", "pool"
TEXT = "pool scaling payload: the same trivial echo on every member, after 50 ms of I/O"
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 90.0
CONFIGS = ("single", "pool-1", "pool-2", "pool-4", "rr-4", "single-mem")
TICK = os.sysconf("SC_CLK_TCK")

log = logging.getLogger("bench.pool_scaling")


# ===================================================================================
# Member side (child processes)
# ===================================================================================


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _Counters:
    """What a member did, for the parent: executions, copies, claims."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.executions = 0
        self.requests_direct = 0
        self.pool_copies = 0
        self.claims_attempted = 0
        self.claims_won = 0
        self.claim_seconds = 0.0
        self.copies_lost = 0


COUNTERS = _Counters()


def _instrument() -> None:
    """Count claims and incoming messages by wrapping (not changing) the server's code.

    Pure measurement: each wrapper calls the original and only adds a counter.
    Anything not found (renamed upstream) is simply not counted.
    """
    from a2a_mqtt.server import agent as agent_mod
    from a2a_mqtt.server import claims as claims_mod

    claims_cls = getattr(claims_mod, "RequestClaims", None)
    original_claim = getattr(claims_cls, "claim_first", None)
    if claims_cls is not None and original_claim is not None:

        async def claim_first(self: Any, keys: Any, owner: str, **kw: Any) -> list[int]:
            start = time.perf_counter()
            try:
                won: list[int] = await original_claim(self, keys, owner, **kw)
            finally:
                COUNTERS.claim_seconds += time.perf_counter() - start
                COUNTERS.claims_attempted += 1
            COUNTERS.claims_won += len(won)
            return won

        claims_cls.claim_first = claim_first

    server_cls = agent_mod.AgentServer
    for name, counter in (("_on_request", "requests_direct"), ("_on_pool_copy", "pool_copies")):
        original = getattr(server_cls, name, None)
        if original is None:
            continue

        def wrapped(self: Any, msg: Any, _orig: Any = original, _c: str = counter) -> Any:
            setattr(COUNTERS, _c, getattr(COUNTERS, _c) + 1)
            return _orig(self, msg)

        setattr(server_cls, name, wrapped)


def _card() -> Any:
    from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill

    return AgentCard(
        name="Pool bench",
        description="Sleeps 50 ms, then echoes the input as one artifact.",
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(id="echo", name="Echo", description="Echo after a delay.", tags=["bench"])
        ],
    )


async def serve(args: argparse.Namespace) -> None:
    """One agent (pool member or not) until stdin closes; ``stats``/``reset`` on stdin."""
    from _common import BenchExecutor  # after a2a_mqtt: its defaults apply to a2a-sdk
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.server import AgentConfig, AgentServer

    _instrument()
    executor = BenchExecutor(delay=args.delay)
    config = AgentConfig(
        ref=AgentRef.parse(args.agent),
        card=_card(),
        executor=executor,
        connection=ConnectionSettings(url=args.broker),
        pool=args.pool or None,
        task_store_url=args.store,
        max_concurrency=args.concurrency,
        session_expiry=300,
        shutdown_grace=10,
        pool_dispatch=args.pool_dispatch,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AgentServer(config) as server:
        _say(f"READY {server.pool_dispatch or 'direct'}")
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        stopping = asyncio.create_task(stop.wait())
        try:
            async with asyncio.timeout(args.deadline):
                while not stop.is_set():
                    reading = asyncio.create_task(reader.readline())
                    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not reading.done():
                        reading.cancel()
                        break
                    line = reading.result().decode().strip()
                    if not line:
                        break  # EOF: the parent is done (or gone)
                    if line == "reset":
                        COUNTERS.reset()
                        executor.executions = 0
                        queue = getattr(server, "_copies", None)
                        if queue is not None:
                            queue.lost = 0
                        _say("RESET")
                    elif line == "stats":
                        queue = getattr(server, "_copies", None)
                        COUNTERS.copies_lost = queue.lost if queue is not None else 0
                        COUNTERS.executions = executor.executions
                        _say("STATS " + json.dumps(vars(COUNTERS)))
        except TimeoutError:
            pass
        finally:
            stopping.cancel()


# ===================================================================================
# Parent side: processes, stores, CPU
# ===================================================================================


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process and all its threads (/proc; 10 ms ticks)."""
    split = cpu_split(pid)
    return None if split is None else split[0] + split[1]


def cpu_split(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of a process and all its threads."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def run_delay_seconds(pid: int) -> float:
    """Seconds the threads of ``pid`` spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as fh:
                total += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def machine_times() -> tuple[float, float, float]:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    steal = values[7] if len(values) > 7 else 0
    total = sum(values[:8])
    return total - idle - steal, steal, total


def postgres_cpu_seconds() -> float:
    """CPU of every ``postgres`` process on the machine (server + all backends).

    Machine-wide: other users of the server are counted too, and a backend that
    exits during the window takes its CPU with it. Approximate by design.
    """
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/comm", encoding="ascii") as fh:
                if fh.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        value = cpu_seconds(int(entry.name))
        if value is not None:
            total += value
    return total


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Member:
    """One agent process and its stdin/stdout control lines."""

    def __init__(
        self,
        ref: str,
        pool: str | None,
        store: str,
        *,
        broker: str,
        args: argparse.Namespace,
        log_dir: Path,
    ) -> None:
        self.ref = ref
        self.name = ref.rsplit("/", 1)[1]
        self.argv = [
            sys.executable,
            str(SCRIPT),
            "--serve",
            "--agent",
            ref,
            "--broker",
            broker,
            "--store",
            store,
            "--concurrency",
            str(args.concurrency),
            "--delay",
            str(args.delay),
            "--pool-dispatch",
            args.pool_dispatch,
            "--deadline",
            str(args.deadline),
        ]
        if pool:
            self.argv += ["--pool", pool]
        self.err_path = log_dir / f"{self.name}.err"
        self.proc: asyncio.subprocess.Process | None = None
        self.dispatch = ""

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
        )
        with open(self.err_path, "ab") as err:  # noqa: ASYNC230 - a local file, once
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=str(ROOT),
                env=env,
            )

    async def _line(self, prefix: str, timeout: float) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    tail = self.err_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{self.name} exited (waiting for {prefix}):\n{tail}")
                line = raw.decode().strip()
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()

    async def ready(self) -> None:
        self.dispatch = await self._line("READY", READY_TIMEOUT)

    async def command(self, cmd: str, answer: str) -> str:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._line(answer, 30.0)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Store:
    """A fresh shared task store for one measurement, removed afterwards."""

    def __init__(self, kind: str, tmp: Path, postgres: str) -> None:
        self.kind = kind
        self._tmp = tmp
        self._postgres = postgres
        self._dbname = ""
        self.url = ""

    async def create(self) -> str:
        if self.kind == "memory":
            self.url = "memory://"
        elif self.kind == "sqlite":
            path = self._tmp / f"pool-{uuid.uuid4().hex[:8]}.db"
            self.url = f"sqlite:///{path}"
        else:
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            self._dbname = f"a2a_pool_bench_{uuid.uuid4().hex[:10]}"
            conn = await asyncpg.connect(self._postgres, timeout=10)
            try:
                await conn.execute(f'CREATE DATABASE "{self._dbname}"')
            finally:
                await conn.close()
            base, _, _ = self._postgres.rpartition("/")
            self.url = f"{base}/{self._dbname}"
        return self.url

    async def drop(self) -> None:
        if self.kind == "sqlite":
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240
        elif self.kind == "postgres" and self._dbname:
            import asyncpg  # type: ignore[import-untyped,unused-ignore]

            conn = await asyncpg.connect(self._postgres, timeout=10)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self._dbname}" WITH (FORCE)')
            finally:
                await conn.close()
            self._dbname = ""


async def postgres_reachable(dsn: str) -> str | None:
    """The server version if ``dsn`` accepts us and lets us create databases, else None."""
    try:
        import asyncpg  # type: ignore[import-untyped,unused-ignore]

        conn = await asyncpg.connect(dsn, timeout=3)
    except Exception as exc:
        log.warning("PostgreSQL at %s not reachable (%s): its rows are skipped", dsn, exc)
        return None
    try:
        can = await conn.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    if not can:
        log.warning("PostgreSQL user may not CREATE DATABASE: its rows are skipped")
        return None
    return str(version)


# ===================================================================================
# One measurement
# ===================================================================================


@dataclass
class Result:
    store: str
    config: str
    run: int
    members: int
    dispatch: str
    n: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rps: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    cpu_members_ms: float = math.nan
    """Member CPU per answered request (all members together)."""
    cpu_broker_ms: float = math.nan
    cpu_client_ms: float = math.nan
    cpu_postgres_ms: float = math.nan
    machine_busy: float = math.nan
    """(members + broker + client [+ postgres]) CPU / (cores x wall): our share."""
    machine_busy_all: float = math.nan
    """Every process on the machine (from /proc/stat), busy / (busy + idle + steal)."""
    machine_steal: float = math.nan
    """Hypervisor steal time as a share of the window."""
    member_run_delay: float = math.nan
    """Mean share of the wall time each member was runnable but waiting for a CPU."""
    member_cpu_share: list[float] = field(default_factory=list)
    """Each member's CPU seconds / wall seconds (1.0 = one core saturated)."""
    member_system_share: float = math.nan
    """Kernel (system) time as a share of the members' CPU time."""
    served_by: dict[str, int] = field(default_factory=dict)
    member_stats: list[dict[str, Any]] = field(default_factory=list)
    loadavg: list[float] = field(default_factory=list)
    incomplete: bool = False
    db_errors: int = 0
    """``OperationalError`` lines (e.g. "database is locked") in the members' logs."""
    unhandled_claim_errors: int = 0
    """Request tasks that died with an exception ("Task exception was never
    retrieved"): the copy was neither answered nor acknowledged by that member."""


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _request() -> Any:
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

    return SendMessageRequest(
        message=Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=TEXT)])
    )


def _check(response: Any) -> None:
    from a2a.types.a2a_pb2 import TaskState

    task = response.task
    if task.status.state != TaskState.TASK_STATE_COMPLETED:
        raise RuntimeError(f"task not completed: {TaskState.Name(task.status.state)}")
    if not task.artifacts or task.artifacts[0].parts[0].text != TEXT:
        raise RuntimeError("artifact missing or wrong")


async def drive(
    targets: list[Any], n: int, inflight: int, max_seconds: float, route: Any
) -> tuple[list[float], Counter[str], Counter[str], float, bool]:
    """``n`` requests, ``inflight`` at a time, spread over ``targets`` round-robin.

    Returns the latencies of the answered requests, errors by type, answers by
    member, the seconds until the *last answer* (so a lost request that only
    ends at its timeout does not stretch the window) and whether the bound hit.
    """
    latencies: list[float] = []
    last_ok = 0.0
    errors: Counter[str] = Counter()
    served: Counter[str] = Counter()
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            transport = targets[i % len(targets)]
            start = time.perf_counter()
            try:
                response = await transport.send_message(_request())
                _check(response)
            except Exception as exc:  # every failure is counted, none is retried
                errors[type(exc).__name__] += 1
                continue
            nonlocal last_ok
            last_ok = time.perf_counter()
            latencies.append(last_ok - start)
            served[route(transport, response.task.id)] += 1

    start = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(min(inflight, n))]
    incomplete = False
    _done, pending = await asyncio.wait(workers, timeout=max_seconds)
    if pending:
        incomplete = True
        for w in pending:
            w.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    end = last_ok if latencies else time.perf_counter()
    return latencies, errors, served, end - start, incomplete


async def measure(
    config: str,
    store_kind: str,
    run: int,
    *,
    broker: Any,
    tmp: Path,
    args: argparse.Namespace,
    spy_out: Path | None = None,
) -> Result:
    from a2a_mqtt.client import A2AMqttClient, RequesterConfig

    tag = uuid.uuid4().hex[:6]
    pooled = config.startswith(("pool-", "rr-"))
    count = int(config.split("-")[1]) if pooled else 1
    pool = f"w{tag}" if pooled else None
    store = Store("memory" if config == "single-mem" else store_kind, tmp, args.postgres)
    url = await store.create()
    log_dir = tmp / "logs"
    log_dir.mkdir(exist_ok=True)
    refs = (
        [f"{ORG}/{UNIT}/m{k}-{tag}" for k in range(count)]
        if pooled
        else [f"{ORG}/{UNIT}/solo-{tag}"]
    )
    members = [
        Member(
            ref,
            pool,
            url,
            broker=broker.url,
            args=args,
            log_dir=log_dir,
        )
        for ref in refs
    ]
    result = Result(store=store_kind, config=config, run=run, members=count, dispatch="")
    spy: asyncio.subprocess.Process | None = None
    try:
        # Started one after another: concurrent first starts race on CREATE TABLE
        # (retried by the server) and on the auto probe; startup is not measured.
        for m in members:
            await m.start()
            await m.ready()
        result.dispatch = (
            "direct"
            if config.startswith("rr-")
            else ",".join(sorted({m.dispatch for m in members}))
        )
        requester = RequesterConfig(
            connection=ConnectionSettings(url=broker.url), reply_first_timeout=REQUEST_TIMEOUT,
            max_attempts=1
        )
        async with A2AMqttClient(requester, discover=False) as mqtt:
            if config.startswith("pool-"):
                pool_ref = f"{ORG}/{UNIT}/pool/{pool}"
                targets = [mqtt.transport_for(pool_ref)]
            else:
                targets = [mqtt.transport_for(ref) for ref in refs]
            from a2a_mqtt.binding.topics import AgentRef

            def route(transport: Any, task_id: str) -> str:
                agent: AgentRef | None = getattr(transport, "agent", None)
                if agent is None:
                    return "?"
                return mqtt.requester.route(agent, task_id).name.split("-")[0]

            _lat, warm_errors, _s, _t, _inc = await drive(
                targets, args.warmup, args.inflight, args.max_seconds, route
            )
            if warm_errors:
                log.warning("%s/%s warm-up errors: %s", store_kind, config, dict(warm_errors))
            for m in members:
                await m.command("reset", "RESET")
            if spy_out is not None:
                spy = await start_py_spy(members[0].pid, spy_out, args.spy_rate, "--threads",
                                          "--nonblocking")
                await asyncio.sleep(1.0)  # let py-spy attach
            before = {m.name: cpu_seconds(m.pid) or 0.0 for m in members}
            sys_before = sum((cpu_split(m.pid) or (0.0, 0.0))[1] for m in members)
            delay_before = sum(run_delay_seconds(m.pid) for m in members)
            machine_before = machine_times()
            broker_pid = broker.process.pid
            broker_before = cpu_seconds(broker_pid) or 0.0
            client_before = self_cpu_seconds()
            pg_before = postgres_cpu_seconds() if store_kind == "postgres" else 0.0
            latencies, errors, served, seconds, incomplete = await drive(
                targets, args.requests, args.inflight, args.max_seconds, route
            )
            pg_after = postgres_cpu_seconds() if store_kind == "postgres" else 0.0
            client_cpu = self_cpu_seconds() - client_before
            broker_cpu = (cpu_seconds(broker_pid) or 0.0) - broker_before
            member_cpu = {m.name: (cpu_seconds(m.pid) or 0.0) - before[m.name] for m in members}
            member_sys = sum((cpu_split(m.pid) or (0.0, 0.0))[1] for m in members) - sys_before
            delay = sum(run_delay_seconds(m.pid) for m in members) - delay_before
            machine_after = machine_times()
            if spy is not None:
                await stop_py_spy(spy, log=log)
                spy = None
            stats = [json.loads(await m.command("stats", "STATS")) for m in members]
        ordered = sorted(latencies)
        answered = len(ordered)
        result.n = answered
        result.errors = sum(errors.values())
        result.error_kinds = dict(errors)
        result.seconds = seconds
        result.incomplete = incomplete
        result.rps = answered / seconds if seconds > 0 else math.nan
        result.p50_ms = _percentile(ordered, 0.5) * 1000
        result.p99_ms = _percentile(ordered, 0.99) * 1000
        per = 1000 / answered if answered else math.nan
        result.cpu_members_ms = sum(member_cpu.values()) * per
        result.cpu_broker_ms = broker_cpu * per
        result.cpu_client_ms = client_cpu * per
        pg_cpu = pg_after - pg_before
        result.cpu_postgres_ms = pg_cpu * per if store_kind == "postgres" else math.nan
        busy = sum(member_cpu.values()) + broker_cpu + client_cpu + pg_cpu
        result.machine_busy = busy / ((os.cpu_count() or 1) * seconds) if seconds else math.nan
        m_busy, m_steal, m_total = (
            a - b for a, b in zip(machine_after, machine_before, strict=True)
        )
        if m_total > 0:
            result.machine_busy_all = m_busy / m_total
            result.machine_steal = m_steal / m_total
        result.member_run_delay = delay / (len(members) * seconds) if seconds else math.nan
        result.member_cpu_share = [member_cpu[m.name] / seconds for m in members]
        total_member = sum(member_cpu.values())
        result.member_system_share = member_sys / total_member if total_member else math.nan
        result.served_by = dict(served)
        result.member_stats = [{"member": m.name, **s} for m, s in zip(members, stats, strict=True)]
        result.loadavg = list(os.getloadavg())
        for m in members:
            text = m.err_path.read_text(errors="replace") if m.err_path.exists() else ""
            result.db_errors += text.count("sqlalchemy.exc.OperationalError")
            result.unhandled_claim_errors += text.count("Task exception was never retrieved")
        return result
    finally:
        if spy is not None:
            with contextlib.suppress(Exception):
                await stop_py_spy(spy, log=log)
        await asyncio.gather(*(m.stop() for m in members), return_exceptions=True)
        try:
            await store.drop()
        except Exception as exc:
            log.warning("could not drop the %s store %s: %s", store.kind, store.url, exc)


# ===================================================================================
# py-spy: where a member's event loop spends its CPU
# ===================================================================================

SPY_CATEGORIES = (
    # SQLAlchemy's asyncio layer runs each statement in a greenlet whose stack py-spy
    # sees without its async caller, so DB work is one category, not per caller.
    (
        "database (SQLAlchemy + driver, incl. claims and in-flight log)",
        (
            "/sqlalchemy/",
            "/aiosqlite/",
            "/asyncpg/",
            "/greenlet/",
            "/a2a_mqtt/server/claims.py",
            "/a2a_mqtt/server/inflight.py",
            "/a2a/server/cluster/",
            "/a2a/server/tasks/database",
        ),
    ),
    ("a2a-sdk handler (task manager, active task, queues)", ("/a2a/",)),
    ("MQTT transport (a2a_mqtt.transport + paho)", ("/a2a_mqtt/transport/", "/paho/")),
    ("a2a_mqtt binding/server/client (+ protobuf JSON)", ("/a2a_mqtt/", "/google/protobuf/")),
)


def _spy_category(frames: list[str]) -> str:
    for name, needles in SPY_CATEGORIES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    return "event loop and other"


def spy_breakdown(path: Path, rate: int, requests: int) -> dict[str, Any]:
    """Event-loop-thread samples by category; worker threads (aiosqlite) apart.

    py-spy samples wall-clock time of non-idle threads: a thread that is runnable
    but waiting for a CPU is sampled too, so read shares, not absolute times.
    """
    loop_cats: dict[str, int] = defaultdict(int)
    threads = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        leaf = frames[-1]
        if (
            ("select (" in leaf and "selectors.py" in leaf)
            or "_do_waitpid (" in leaf
            or ("wait (" in leaf and "threading.py" in leaf)
        ):
            idle += count
            continue
        head = stack.split(";", 1)[0]
        if "MainThread" not in head and not frames[0].startswith("<module> ("):
            threads += count  # aiosqlite's connection threads (SQLite itself runs there)
            continue
        loop_cats[_spy_category(frames[1:] if "MainThread" in head else frames)] += count
    total = sum(loop_cats.values())
    ms = 1000 / rate / requests if requests else math.nan
    return {
        "rate_hz": rate,
        "loop_samples": total,
        "loop_ms_per_request": total * ms,
        "worker_threads_ms_per_request": threads * ms,
        "by_category": {
            k: {"ms_per_request": v * ms, "percent": 100 * v / total}
            for k, v in sorted(loop_cats.items(), key=lambda kv: -kv[1])
            if total
        },
    }


# ===================================================================================
# Driver and report
# ===================================================================================


def medians(results: list[Result]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.store, r.config)].append(r)
    rows = []
    for (store, config), rs in groups.items():

        def med(attr: str, rs: list[Result] = rs) -> float:
            values = [getattr(r, attr) for r in rs if not math.isnan(getattr(r, attr))]
            return statistics.median(values) if values else math.nan

        shares = [statistics.median(r.member_cpu_share) for r in rs if r.member_cpu_share]
        copies = [
            statistics.median(s.get("pool_copies", 0) for s in r.member_stats)
            for r in rs
            if r.member_stats
        ]
        lost = [
            statistics.median(
                s.get("copies_lost", 0) for s in r.member_stats
            )
            for r in rs
            if r.member_stats
        ]
        claim_ms = [
            sum(s.get("claim_seconds", 0.0) for s in r.member_stats) * 1000 / r.n
            for r in rs
            if r.member_stats and r.n
        ]
        rows.append(
            {
                "store": store,
                "config": config,
                "runs": len(rs),
                "members": rs[0].members,
                "dispatch": rs[0].dispatch,
                "rps": med("rps"),
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "errors": sum(r.errors for r in rs),
                "n": sum(r.n for r in rs),
                "cpu_members_ms": med("cpu_members_ms"),
                "cpu_broker_ms": med("cpu_broker_ms"),
                "cpu_client_ms": med("cpu_client_ms"),
                "cpu_postgres_ms": med("cpu_postgres_ms"),
                "machine_busy": med("machine_busy"),
                "machine_busy_all": med("machine_busy_all"),
                "member_run_delay": med("member_run_delay"),
                "member_system_share": med("member_system_share"),
                "db_errors": sum(r.db_errors for r in rs),
                "unhandled_claim_errors": sum(r.unhandled_claim_errors for r in rs),
                "member_cpu_share": statistics.median(shares) if shares else math.nan,
                "copies_per_member": statistics.median(copies) if copies else math.nan,
                "claims_lost_per_member": statistics.median(lost) if lost else math.nan,
                "claim_ms_per_request": statistics.median(claim_ms) if claim_ms else math.nan,
                "rps_runs": [round(r.rps, 1) for r in rs],
            }
        )
    return rows


def ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    by = {(r["store"], r["config"]): r["rps"] for r in rows}
    for store in sorted({r["store"] for r in rows}):
        one = by.get((store, "pool-1"), math.nan)
        single = by.get((store, "single"), math.nan)
        entry = {
            "pool-2 / pool-1": by.get((store, "pool-2"), math.nan) / one,
            "pool-4 / pool-1": by.get((store, "pool-4"), math.nan) / one,
            "pool-1 / single": one / single,
            "pool-4 / single": by.get((store, "pool-4"), math.nan) / single,
            "rr-4 / single": by.get((store, "rr-4"), math.nan) / single,
            "pool-4 / rr-4": by.get((store, "pool-4"), math.nan)
            / by.get((store, "rr-4"), math.nan),
        }
        out[store] = {k: v for k, v in entry.items() if not math.isnan(v)}
    return out


def _f(value: float, digits: int = 1) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def print_report(
    rows: list[dict[str, Any]],
    rat: dict[str, dict[str, float]],
    spies: dict[str, Any],
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"Pool scaling: {args.inflight} in flight, {args.requests} requests per measurement, "
        f"executor sleep {args.delay * 1000:.0f} ms, max_concurrency {args.concurrency} per "
        f"agent; median of {args.runs} run(s); {os.cpu_count()} CPUs"
    )
    head = (
        "| store | row | dispatch | req/s | p50 ms | p99 ms | err | CPU ms/req: members"
        " | broker | client | postgres | CPU/member (cores) | run-queue wait/member "
        "| machine busy: ours | all |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        print(
            f"| {r['store']} | {r['config']} | {r['dispatch']} | {_f(r['rps'])} "
            f"| {_f(r['p50_ms'], 0)} | {_f(r['p99_ms'], 0)} | {r['errors']} "
            f"| {_f(r['cpu_members_ms'], 2)} | {_f(r['cpu_broker_ms'], 2)} "
            f"| {_f(r['cpu_client_ms'], 2)} | {_f(r['cpu_postgres_ms'], 2)} "
            f"| {_f(r['member_cpu_share'], 2)} | {_f(100 * r['member_run_delay'], 0)}% "
            f"| {_f(100 * r['machine_busy'], 0)}% | {_f(100 * r['machine_busy_all'], 0)}% |"
        )
    print()
    head2 = (
        "| store | row | copies received/member | copies lost to other members/member "
        "| claim wall ms/req (all members) | DB OperationalErrors in logs "
        "| request tasks died (unanswered copies) | kernel share of member CPU |"
    )
    print(head2)
    print("|" + "---|" * (head2.count("|") - 1))
    for r in rows:
        print(
            f"| {r['store']} | {r['config']} | {_f(r['copies_per_member'], 0)} "
            f"| {_f(r['claims_lost_per_member'], 0)} | {_f(r['claim_ms_per_request'], 1)} "
            f"| {r['db_errors']} | {r['unhandled_claim_errors']} "
            f"| {_f(100 * r['member_system_share'], 0)}% |"
        )
    print()
    for store, entry in rat.items():
        parts = ", ".join(f"{k} = {v:.2f}" for k, v in entry.items())
        if "pool-4 / pool-1" in entry:
            verdict = "meets" if entry["pool-4 / pool-1"] >= 3.5 else "MISSES"
            parts += f"  -> target pool-4 >= 3.5x pool-1: {verdict}"
        print(f"{store}: {parts}")
    for store, spy in spies.items():
        print()
        print(
            f"py-spy, {store} {args.spy_config}, agent 0 ({spy['rate_hz']} Hz, wall-clock "
            f"samples of busy threads): event loop {spy['loop_ms_per_request']:.2f} ms per "
            f"request it executed ({spy.get('agent0_executions')} of "
            f"{spy.get('pool_requests')}); worker threads "
            f"{spy['worker_threads_ms_per_request']:.2f} ms"
        )
        for name, v in spy["by_category"].items():
            print(f"  {v['percent']:5.1f}%  {v['ms_per_request']:.3f} ms  {name}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker

    started = time.monotonic()
    stores = [s for s in args.stores.split(",") if s]
    pg_version = None
    if "postgres" in stores:
        pg_version = await postgres_reachable(args.postgres)
        if pg_version is None:
            stores.remove("postgres")
    configs = [c for c in args.configs.split(",") if c]
    results: list[Result] = []
    spies: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="a2a-pool-bench-"))
    deadline_at = started + args.deadline
    stopped_early = False

    def report(partial: bool) -> dict[str, Any]:
        rows = medians(results)
        return {
            "environment": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "mosquitto": _mosquitto_version(),
                "postgres": pg_version,
                "loadavg_at_end": list(os.getloadavg()),
            },
            "args": {k: v for k, v in vars(args).items() if k not in ("serve", "json")},
            "elapsed_seconds": time.monotonic() - started,
            "partial": partial,
            "medians": rows,
            "ratios": ratios(rows),
            "py_spy": spies,
            "results": [asdict(r) for r in results],
        }

    def checkpoint() -> None:
        if args.json is not None:
            args.json.write_text(json.dumps(report(True), indent=2, default=str))

    def out_of_time() -> bool:
        nonlocal stopped_early
        if time.monotonic() < deadline_at:
            return False
        stopped_early = True
        log.warning("--deadline reached: reporting the %d measurement(s) done", len(results))
        return True

    try:
        # The hard bound: each measurement is bounded by --max-seconds and is checked
        # against --deadline before it starts; this catches anything else.
        async with (
            asyncio.timeout(args.deadline + args.max_seconds + 300),
            EmbeddedBroker(config=BrokerConfig(), state_dir=tmp / "broker") as broker,
        ):
            print(
                f"broker {broker.url} (generated config: {broker.process.config_path})",
                file=sys.stderr,
            )
            for store in stores:
                for run_no in range(1, args.runs + 1):
                    for config in configs:
                        if config == "single-mem" and store != stores[0]:
                            continue  # the in-memory control does not depend on the store
                        if out_of_time():
                            break
                        r = await measure(config, store, run_no, broker=broker, tmp=tmp, args=args)
                        results.append(r)
                        checkpoint()
                        print(
                            f"  {store:8} {config:10} run {run_no}: {r.rps:7.1f} req/s  "
                            f"p50 {r.p50_ms:6.0f} ms  p99 {r.p99_ms:6.0f} ms  "
                            f"err {r.errors}  busy ours {100 * r.machine_busy:3.0f}% "
                            f"all {100 * r.machine_busy_all:3.0f}% "
                            f"steal {100 * r.machine_steal:2.0f}%  "
                            f"run-queue wait {100 * r.member_run_delay:3.0f}%  "
                            f"members {[round(s, 2) for s in r.member_cpu_share]} "
                            f"(sys {100 * r.member_system_share:.0f}%)  "
                            f"served {r.served_by}  db-errors {r.db_errors} "
                            f"died {r.unhandled_claim_errors}",
                            file=sys.stderr,
                        )
                if args.spy and have_py_spy() and not out_of_time():
                    out = tmp / f"spy-{store}.txt"
                    r = await measure(
                        args.spy_config, store, 0, broker=broker, tmp=tmp, args=args, spy_out=out
                    )
                    if out.exists():
                        executed = (
                            int(r.member_stats[0].get("executions", 0)) if r.member_stats else r.n
                        )
                        spies[store] = spy_breakdown(out, args.spy_rate, executed)
                        spies[store]["rps_while_profiled"] = r.rps
                        spies[store]["pool_requests"] = r.n
                        spies[store]["agent0_executions"] = executed
                        checkpoint()
    except TimeoutError:
        stopped_early = True
        log.warning("hard time bound reached: reporting the %d measurement(s) done", len(results))
    finally:
        if args.keep_tmp:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    final = report(stopped_early)
    print_report(final["medians"], final["ratios"], spies, args)
    return final


def _mosquitto_version() -> str:
    try:
        from a2a_mqtt.broker import find_mosquitto

        out = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        )
        return (out.stdout or out.stderr).splitlines()[0]
    except Exception:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 run, PostgreSQL rows only, no py-spy (smoke test)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="max_concurrency of every agent: turns one member runs at once (default 1; "
        "see the module docstring for why)",
    )
    parser.add_argument(
        "--delay", type=float, default=0.05, help="seconds the executor sleeps (default 0.05)"
    )
    parser.add_argument(
        "--configs",
        default="single,pool-1,pool-2,pool-4,rr-4,single-mem",
        help=f"comma-separated, from {', '.join(CONFIGS)}",
    )
    parser.add_argument(
        "--stores",
        default="postgres,sqlite",
        help="postgres (the many-host store; skipped when unreachable) and/or sqlite",
    )
    parser.add_argument(
        "--postgres", default=os.environ.get("A2A_MQTT_BENCH_POSTGRES", POSTGRES_DEFAULT)
    )
    parser.add_argument("--pool-dispatch", default="auto", choices=("auto", "shared", "claim"))
    parser.add_argument(
        "--max-seconds", type=float, default=240.0, help="bound on one measurement's request phase"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=3600.0,
        help="bound on the whole bench (and on each agent process)",
    )
    parser.add_argument(
        "--spy",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="one extra py-spy'd --spy-config measurement per store (needs py-spy)",
    )
    parser.add_argument("--spy-rate", type=int, default=200)
    parser.add_argument(
        "--spy-config",
        default="pool-4",
        choices=CONFIGS,
        help="the row measured again under py-spy (its first agent)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--keep-tmp", action="store_true")
    # child mode
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--pool", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.serve:
        from a2a_mqtt._loop import run as run_loop  # members run like `a2a-mqtt` does

        run_loop(serve(args))
        return
    if args.quick:
        args.runs, args.stores, args.spy = 1, "postgres", False
    unknown = set(args.configs.split(",")) - set(CONFIGS) - {""}
    if unknown:
        parser.error(f"unknown configs {sorted(unknown)}")
    report = asyncio.run(run(args))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"results: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
