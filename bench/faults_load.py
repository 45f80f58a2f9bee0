"""Faults under load: many requests in flight while the broker restarts or the agent dies.

Usage::

    python bench/faults_load.py                               # 10,000 requests, 200 in
                                                              # flight, SQLite and PostgreSQL,
                                                              # broker restart and kill -9
    python bench/faults_load.py --requests 1000 --stores sqlite --faults kill
    python bench/faults_load.py --json /tmp/faults.json       # also write the figures

What runs, per (store, fault):

* one Mosquitto with persistence on (the generated config), its state in a
  temporary directory;
* one echo agent as a child process (this script with ``--serve``) on a fresh
  durable task store (a SQLite file, or a throwaway PostgreSQL database). Its
  executor appends ``start <task> <pid>`` and ``done <task> <pid>`` to an
  execution log, one ``write`` each, so executions survive ``kill -9``;
* this process keeps ``--inflight`` unary SendMessage requests in flight until
  ``--requests`` have an outcome, through one requester with the profile's
  retries (3 attempts, 30 s first-reply timeout). A second MQTT session
  subscribed to the requester's reply topics counts every reply on the wire;
* after ``--fault-at`` of the requests have answers, the fault: ``broker`` stops
  Mosquitto (SIGTERM, so it saves its sessions) and starts it again on the same
  port; ``kill`` sends SIGKILL to the agent and starts it again at once, as a
  supervisor would.

Counted: outcomes per request (the call returned a task, or raised), task
states, executions per task from the log, replies per request on the wire
(duplicates the requester filtered: a QoS 1 redelivery, or the answer to a
retry of a request already answered), and contradictory answers (two replies
for one task with different states). The verdict is PASS when every request
got exactly one outcome and it is a terminal task, no task was executed twice
(no second ``done``, no second ``start``), no task both completed and was
reported failed, and no two replies for one task disagree.

The machine is shared and noisy: the times are for orientation only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from a2a_mqtt.connection import ConnectionSettings
from harness import bench_parser, drive, finish_args, markdown_table, write_json
from harness.procs import ChildProcess, private_broker, stdin_closed
from harness.stores import POSTGRES_DEFAULT, store_url

SCRIPT = Path(__file__).resolve()
READY_TIMEOUT = 60.0
TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED",
            "TASK_STATE_REJECTED"}

log = logging.getLogger("bench.faults_load")


# ===================================================================================
# Agent side (child process)
# ===================================================================================


def _journal(log_path: str) -> Callable[[str], None]:
    """Append ``<line> <pid>`` to the execution log: one ``write`` per line, so lines
    never interleave and a ``kill -9`` loses none that was written."""
    pid = os.getpid()

    def write(line: str) -> None:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line} {pid}\n".encode())
        finally:
            os.close(fd)

    return write


async def serve(args: Any) -> None:
    """The echo agent until stdin closes or SIGTERM/SIGINT; prints READY once serving."""
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.server import AgentConfig, AgentServer
    from harness.agent import BenchExecutor, bench_card

    config = AgentConfig(ref=AgentRef.parse(args.agent), card=bench_card(),
                         executor=BenchExecutor(delay=args.delay,
                                                journal=_journal(args.exec_log)),
                         connection=ConnectionSettings(url=args.broker, keepalive=5),
                         task_store_url=args.store, session_expiry=600, shutdown_grace=10,
                         max_concurrency=args.concurrency)
    await AgentServer(config).serve(stdin_closed(), on_ready=lambda: print("READY", flush=True))


# ===================================================================================
# Driver side
# ===================================================================================


@dataclass
class Result:
    store: str
    fault: str
    requests: int
    inflight: int
    seconds: float = 0.0
    fault_at_answered: int = 0
    outcomes: int = 0
    """Requests whose call returned (a task) or raised: each exactly once."""
    client_errors: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    not_terminal: int = 0
    executed: int = 0
    started_twice: int = 0
    done_twice: int = 0
    completed_without_execution: int = 0
    interrupted: int = 0
    """Executor started but never finished (the kill hit it mid-turn; never run again)."""
    failed_after_execution: int = 0
    """Executor finished, but the agent died before the outcome was stored: recovery
    reported the task FAILED (at most once, never run again)."""
    wire_replies: int = 0
    wire_duplicates: int = 0
    """Replies beyond the first for one task (filtered by the requester)."""
    wire_contradictions: int = 0
    """Tasks with replies in two different states."""
    wire_errors: int = 0
    agent_restarts: int = 0
    agent_exit: int | None = None
    agent_tracebacks: int = 0
    verdict: str = ""
    problems: list[str] = field(default_factory=list)


def executions(path: Path) -> tuple[collections.Counter[str], collections.Counter[str]]:
    starts: collections.Counter[str] = collections.Counter()
    dones: collections.Counter[str] = collections.Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            kind, task, _pid = line.split()
            (starts if kind == "start" else dones)[task] += 1
    return starts, dones


class WireCount:
    """Every reply the broker delivers to the requester's reply topics, by task."""

    def __init__(self) -> None:
        self.states: dict[str, list[str]] = collections.defaultdict(list)
        self.replies = 0
        self.errors = 0

    def on_reply(self, msg: Any) -> None:
        if (msg.properties.correlation_data or b"").startswith(b"sync-"):
            return  # the requester's own barrier round trip, not a reply
        self.replies += 1
        try:
            body = json.loads(msg.payload)
        except ValueError:
            self.errors += 1
            return
        task = (body.get("result") or {}).get("task") if isinstance(body, dict) else None
        if not isinstance(task, dict):
            self.errors += 1
            return
        self.states[str(task.get("id"))].append(str(task.get("status", {}).get("state")))


async def measure(kind: str, fault: str, args: Any, tmp: Path) -> Result:
    result = Result(store=kind, fault=fault, requests=args.requests, inflight=args.inflight)
    run_id = uuid.uuid4().hex[:8]
    ref = f"bench/faults/echo-{run_id}"
    exec_log = tmp / "executions.log"
    async with private_broker(state_dir=tmp / "broker") as broker, \
            store_url(kind, tmp, args.postgres, prefix="a2a_faults") as url:
        agent = ChildProcess(str(SCRIPT), [
            "--serve", "--agent", ref, "--broker", broker.url, "--store", url,
            "--exec-log", str(exec_log), "--delay", str(args.delay),
            "--concurrency", str(args.concurrency)],
            ready_timeout=READY_TIMEOUT, stop_timeout=30, stderr=tmp / "agent.err")
        try:
            await agent.start()
            outcomes, errors, wire = await _load(result, args, broker=broker, agent=agent,
                                                 ref=ref, run_id=run_id, exec_log=exec_log)
        finally:
            result.agent_exit = await agent.stop()
    _tally(result, outcomes=outcomes, errors=errors, wire=wire, exec_log=exec_log, agent=agent)
    return result


async def _load(result: Result, args: Any, *, broker: Any, agent: ChildProcess, ref: str,
                run_id: str, exec_log: Path
                ) -> tuple[dict[str, list[str]], collections.Counter[str], WireCount]:
    """Drive the requests; the fault once ``--fault-at`` of them have answers. Returns
    the outcomes per task, the client errors by type, the replies on the wire."""
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState

    from a2a_mqtt.binding.topics import AgentRef, reply_filter
    from a2a_mqtt.client import A2AMqttClient, RequesterConfig
    from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, Subscription
    from a2a_mqtt.transport.base import BrokerURL

    requester_id = f"driver-{run_id}"
    wire = WireCount()
    monitor = Mqtt5Transport(ConnectOptions(
        url=BrokerURL.parse(broker.url), client_id=f"bench/faults/monitor-{run_id}",
        clean_start=False, session_expiry_interval=600))
    await monitor.subscribe(Subscription(reply_filter(AgentRef("bench", "clients",
                                                               requester_id)), qos=1),
                            wire.on_reply)
    config = RequesterConfig(connection=ConnectionSettings(url=broker.url), org="bench",
                             unit="clients",
                             requester_id=requester_id, reply_first_timeout=30.0,
                             max_attempts=3, backoff=(0.5, 1.0, 2.0), session_expiry=600)
    outcomes: dict[str, list[str]] = collections.defaultdict(list)
    errors: collections.Counter[str] = collections.Counter()
    answered = 0
    fault_due = asyncio.Event()
    fault_at = max(1, int(args.requests * args.fault_at))
    numbers = itertools.count()
    async with monitor, A2AMqttClient(config) as mqtt:
        transport = mqtt.transport_for(AgentRef.parse(ref))

        async def one() -> None:
            """Never raises: every outcome, an error included, is counted here."""
            nonlocal answered
            task_id = str(uuid.uuid4())
            request = SendMessageRequest(message=Message(
                message_id=str(uuid.uuid4()), role=Role.ROLE_USER, task_id=task_id,
                context_id=str(uuid.uuid4()), parts=[Part(text=f"faults {next(numbers)}")]))
            try:
                response = await transport.send_message(request)
            except Exception as exc:
                errors[type(exc).__name__] += 1
                outcomes[task_id].append(f"error:{type(exc).__name__}")
            else:
                outcomes[task_id].append(TaskState.Name(response.task.status.state))
            answered += 1
            if answered == fault_at:
                fault_due.set()

        async def injector() -> None:
            await fault_due.wait()
            result.fault_at_answered = answered
            log.info("%s/%s: fault %s after %d answers", result.store, result.fault,
                     result.fault, answered)
            if result.fault == "broker":
                await asyncio.to_thread(broker.process.restart)
            elif result.fault == "kill":
                await _turn_open(exec_log)
                await agent.kill()
                await agent.start()

        injecting = asyncio.create_task(injector(), name="bench.fault")
        # No request starts after --max-seconds; one not started has no outcome (FAIL).
        _, result.seconds, _ = await drive(one, args.requests, args.inflight,
                                           max_seconds=args.max_seconds,
                                           timeout=args.max_seconds)
        if not injecting.done():
            injecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await injecting
        await asyncio.sleep(args.settle)  # late duplicates, if any, reach the monitor
    return outcomes, errors, wire


async def _turn_open(exec_log: Path, *, limit: float = 2.0) -> None:
    """Return once the execution log shows a turn inside the executor (started, not
    done), or after ``limit`` seconds. Turns run in waves behind group commits: a kill
    sent the moment an answer arrives can fall between two waves and interrupt none."""
    deadline = asyncio.get_running_loop().time() + limit
    while asyncio.get_running_loop().time() < deadline:
        starts, dones = executions(exec_log)
        if any(not dones[task] for task in starts):
            return
        await asyncio.sleep(0.005)


def _tally(result: Result, *, outcomes: dict[str, list[str]], errors: collections.Counter[str],
           wire: WireCount, exec_log: Path, agent: ChildProcess) -> None:
    starts, dones = executions(exec_log)
    result.outcomes = sum(len(v) for v in outcomes.values())
    result.client_errors = dict(errors)
    result.states = dict(collections.Counter(v[0] for v in outcomes.values()))
    result.not_terminal = sum(1 for v in outcomes.values() if v[0] not in TERMINAL)
    result.executed = len(dones)
    result.started_twice = sum(1 for n in starts.values() if n > 1)
    result.done_twice = sum(1 for n in dones.values() if n > 1)
    result.interrupted = sum(1 for t in starts if not dones[t])
    result.completed_without_execution = sum(
        1 for t, v in outcomes.items() if v[0] == "TASK_STATE_COMPLETED" and not dones[t])
    result.failed_after_execution = sum(
        1 for t, v in outcomes.items() if v[0] == "TASK_STATE_FAILED" and dones[t])
    result.wire_replies = wire.replies
    result.wire_errors = wire.errors
    result.wire_duplicates = sum(len(s) - 1 for s in wire.states.values() if len(s) > 1)
    result.wire_contradictions = sum(1 for s in wire.states.values() if len(set(s)) > 1)
    result.agent_restarts = agent.starts - 1
    err_path = agent.stderr
    err = err_path.read_text(errors="replace") if err_path and err_path.exists() else ""
    result.agent_tracebacks = err.count("Traceback")
    problems = result.problems
    if result.outcomes != result.requests or any(len(v) != 1 for v in outcomes.values()):
        problems.append(f"{result.outcomes} outcomes for {result.requests} requests")
    if errors:
        problems.append(f"client errors {dict(errors)}")
    if result.not_terminal:
        problems.append(f"{result.not_terminal} answers not terminal")
    if result.started_twice or result.done_twice:
        problems.append(f"executed twice: {result.started_twice} started, "
                        f"{result.done_twice} done")
    if result.completed_without_execution:
        problems.append(f"{result.completed_without_execution} completed but never executed")
    # Not a problem: an executor that finished just before SIGKILL, whose outcome never
    # reached the store, is failed by recovery (at most once; the requester is told).
    if result.wire_contradictions:
        problems.append(f"{result.wire_contradictions} tasks with contradicting replies")
    if result.agent_tracebacks:
        problems.append(f"{result.agent_tracebacks} tracebacks in the agent's log")
    result.verdict = "FAIL" if problems else "PASS"


COLUMNS = [("store", ""), ("fault", ""), ("requests", "d"), ("seconds", ".0f"),
           ("outcomes", "d"), ("completed", "d"), ("failed", "d"), ("errors", "d"),
           ("exec", "d", "executed"), ("exec 2x", "d"), ("exec-failed", "d",
           "failed_after_execution"), ("wire", "d", "wire_replies"),
           ("dup", "d", "wire_duplicates"), ("contra", "d", "wire_contradictions"),
           ("verdict", "")]


def print_report(results: list[Result]) -> None:
    rows = [{**asdict(r), "completed": r.states.get("TASK_STATE_COMPLETED", 0),
             "failed": r.states.get("TASK_STATE_FAILED", 0),
             "errors": sum(r.client_errors.values()), "exec_2x": r.started_twice + r.done_twice}
            for r in results]
    print("\nFaults under load (shared, noisy machine: times are orientation only)\n")
    print(markdown_table(COLUMNS, rows))
    for r in results:
        for p in r.problems:
            print(f"- {r.store}/{r.fault}: {p}")
    verdict = "PASS" if results and all(r.verdict == "PASS" for r in results) else "FAIL"
    print(f"\nverdict: {verdict}")


async def run(args: Any) -> list[Result]:
    from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

    prefer_a2a_sdk_spans_off()  # before this process imports a2a-sdk: a2a-mqtt's default

    results = []
    for _ in range(args.runs):
        for kind in args.stores:
            for fault in args.faults:
                with tempfile.TemporaryDirectory(prefix="a2a-faults-") as tmp:
                    r = await measure(kind, fault, args, Path(tmp))
                log.info("%s/%s: %s in %.1fs", kind, fault, r.verdict, r.seconds)
                results.append(r)
    return results


def main() -> None:
    parser = bench_parser(__doc__, runs=1, quick="500 requests, 100 in flight, SQLite only",
                          json_help="also write every count here as JSON")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--stores", type=lambda s: s.split(","), default=["sqlite", "postgres"],
                        help="comma-separated: sqlite, postgres")
    parser.add_argument("--faults", type=lambda s: s.split(","), default=["broker", "kill"],
                        help="comma-separated: broker, kill, none")
    parser.add_argument("--fault-at", type=float, default=0.3,
                        help="fraction of requests answered before the fault")
    parser.add_argument("--delay", type=float, default=0.01, help="executor work, seconds")
    parser.add_argument("--concurrency", type=int, default=64, help="agent max_concurrency")
    parser.add_argument("--postgres", default=POSTGRES_DEFAULT)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--exec-log", help=argparse.SUPPRESS)
    args = finish_args(parser, requests=500, inflight=100, stores=["sqlite"])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.serve:
        asyncio.run(serve(args))
        return
    results = asyncio.run(run(args))
    print_report(results)
    if args.json is not None:
        write_json("faults_load", {"results": [asdict(r) for r in results]}, args.json)
    sys.exit(0 if all(r.verdict == "PASS" for r in results) else 1)


if __name__ == "__main__":
    main()
