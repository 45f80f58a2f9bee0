"""One (run, store, config): start its members, drive the load, read CPU and counters."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2a_mqtt.connection import ConnectionSettings
from harness.spy import start_py_spy, stop_py_spy
from pool_bench.cpu import (
    cpu_seconds,
    cpu_split,
    machine_times,
    postgres_cpu_seconds,
    run_delay_seconds,
    self_cpu_seconds,
)
from pool_bench.processes import Member, Store
from pool_bench.settings import (
    ORG,
    REQUEST_TIMEOUT,
    TEXT,
    UNIT,
    log,
)


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
