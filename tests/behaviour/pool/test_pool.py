"""Pools: shared-subscription load spreading, following the responder, and delivery that
loses nothing when a member is killed, the broker restarts or every member restarts."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from a2a.types.a2a_pb2 import GetTaskRequest, SendMessageResponse, TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from tests.behaviour.conftest import requester_config, text

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

COMPLETED = TaskState.TASK_STATE_COMPLETED
FAILED = TaskState.TASK_STATE_FAILED


class Member:
    """One pool member process (tests/behaviour/pool/member.py)."""

    def __init__(self, url: str, ref: AgentRef, pool: str, store: str, log: Path) -> None:
        self.args = [sys.executable, "-m", "tests.behaviour.pool.member", url, str(ref), pool,
                     store, str(log)]
        self.ref = ref
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = log.parent / f"{ref.name}.err"
        """The process's log (every start appends), for a failing test to show."""

    def start(self) -> None:
        with open(self.stderr, "ab") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=err,
                                         cwd=Path(__file__).parents[3])

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr.read_text(errors="replace")
        except FileNotFoundError:
            return f"{self.ref}: no log"
        return f"{self.ref} (exit {self.proc and self.proc.poll()}):\n" + "\n".join(
            text.splitlines()[-lines:])

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


async def wait_online(mqtt: A2AMqttClient, refs: list[AgentRef], *, online: bool = True,
                      timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            await mqtt.requester.barrier()
            states = [mqtt.discovery.get(r) for r in refs]
            if all(e is not None and e.online == online for e in states):
                return
            await asyncio.sleep(0.05)


@asynccontextmanager
async def pool_of(url: str, org_unit: str, pool: str, n: int, tmp: Path
                  ) -> AsyncIterator[tuple[list[Member], Path]]:
    log = tmp / "executions.log"
    store = f"sqlite:///{tmp}/pool.db"
    members = [Member(url, AgentRef.parse(f"{org_unit}/member-{i}"), pool, store, log)
               for i in range(n)]
    try:
        for m in members:
            m.start()
        yield members, log
    finally:
        for m in members:
            m.terminate()


def executions(log: Path) -> tuple[collections.Counter[str], collections.Counter[str]]:
    starts: collections.Counter[str] = collections.Counter()
    dones: collections.Counter[str] = collections.Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            kind, task, _pid = line.split()
            (starts if kind == "start" else dones)[task] += 1
    return starts, dones


def patient(url: str, *, max_attempts: int = 3) -> object:
    return requester_config(url, reply_first_timeout=30, stream_idle_timeout=30,
                            max_attempts=max_attempts, backoff=(0.5, 1.0))


async def test_load_spreads_and_client_follows_responder(broker: MosquittoProcess,
                                                         unique_id: str, tmp_path: Path) -> None:
    org_unit = f"pool/{unique_id}"
    pool = AgentRef.parse(f"{org_unit}/pool/workers")
    async with pool_of(broker.url, org_unit, "workers", 3, tmp_path) as (members, log), \
            A2AMqttClient(patient(broker.url), org="pool") as mqtt:  # type: ignore[arg-type]
        await wait_online(mqtt, [m.ref for m in members])
        t = mqtt.transport_for(pool)
        # Each job holds its slot 0.2 s, so a member's 4 slots, not its share of a busy
        # CPU, bound what it takes: the spread does not depend on the machine's load.
        responses = await asyncio.gather(*(t.send_message(text(f"job {i}",
                                                               metadata={"delay": 0.2}))
                                           for i in range(60)))
        served_by = collections.Counter(
            mqtt.requester.route(pool, r.task.id).name for r in responses)
        # A later GetTask goes straight to the member that ran the task.
        some = responses[0].task
        member = mqtt.requester.route(pool, some.id)
        assert not member.pool
        got = await t.get_task(GetTaskRequest(id=some.id))
        entry = mqtt.discovery.get(pool)
    assert all(r.task.status.state == COMPLETED for r in responses)
    assert set(served_by) == {"member-0", "member-1", "member-2"}
    assert min(served_by.values()) >= 5, served_by
    assert got.id == some.id and got.status.state == COMPLETED
    assert entry is not None and entry.online  # the pool card is retained too
    _starts, dones = executions(log)
    assert len(dones) == 60 and max(dones.values()) == 1


async def test_kill_9_of_a_member_mid_task_loses_nothing(broker: MosquittoProcess,
                                                        unique_id: str, tmp_path: Path) -> None:
    org_unit = f"pool/{unique_id}"
    pool = AgentRef.parse(f"{org_unit}/pool/workers")
    # One attempt: a request the kill leaves unanswered must fail the test, not be
    # rescued by the requester's retry.
    requester = patient(broker.url, max_attempts=1)
    async with pool_of(broker.url, org_unit, "workers", 2, tmp_path) as (members, log), \
            A2AMqttClient(requester, org="pool") as mqtt:  # type: ignore[arg-type]
        await wait_online(mqtt, [m.ref for m in members])
        t = mqtt.transport_for(pool)
        pending = [asyncio.create_task(t.send_message(text(f"slow {i}",
                                                           metadata={"delay": 1.0})))
                   for i in range(20)]
        victim = members[0]
        assert victim.proc is not None
        async with asyncio.timeout(20):  # until the victim is mid-work
            while f" {victim.proc.pid}" not in (log.read_text() if log.exists() else ""):
                await asyncio.sleep(0.02)
        victim_pid = victim.proc.pid
        victim.kill9()
        victim.start()  # a supervisor restarts it; its session still holds its requests
        results: list[SendMessageResponse] = await asyncio.wait_for(
            asyncio.gather(*pending), 90)
    states = collections.Counter(TaskState.Name(r.task.status.state) for r in results)
    starts, dones = executions(log)
    assert len(results) == 20
    assert set(states) <= {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}, states
    victim_starts = [line for line in log.read_text().splitlines()
                     if line.startswith("start") and line.endswith(f" {victim_pid}")]
    assert victim_starts
    # The victim's in-flight tasks were not abandoned: failed with a reason, or done elsewhere.
    assert states["TASK_STATE_FAILED"] >= 1, (states, victim_starts, starts)
    for r in results:
        expected = 1 if r.task.status.state == COMPLETED else 0
        assert dones[r.task.id] == expected, (r.task.id, r.task.status)
        if r.task.status.state == FAILED:
            assert "offline" in r.task.status.message.parts[0].text \
                or "restarted" in r.task.status.message.parts[0].text


async def test_every_member_restarts_while_requests_keep_arriving(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    org_unit = f"pool/{unique_id}"
    pool = AgentRef.parse(f"{org_unit}/pool/workers")
    async with pool_of(broker.url, org_unit, "workers", 2, tmp_path) as (members, log), \
            A2AMqttClient(patient(broker.url), org="pool") as mqtt:  # type: ignore[arg-type]
        await wait_online(mqtt, [m.ref for m in members])
        t = mqtt.transport_for(pool)

        async def sender() -> list[SendMessageResponse]:
            tasks = []
            for i in range(40):
                tasks.append(asyncio.create_task(t.send_message(
                    text(f"req {i}", metadata={"delay": 0.2}))))
                await asyncio.sleep(0.05)  # pacing: requests keep arriving during restarts
            return await asyncio.gather(*tasks)

        sending = asyncio.create_task(sender())
        for member in members:  # graceful restarts, one after the other
            member.terminate()
            member.start()
        results = await asyncio.wait_for(sending, 120)
    _starts, dones = executions(log)
    assert [TaskState.Name(r.task.status.state) for r in results] == [
        "TASK_STATE_COMPLETED"] * 40
    assert {r.task.id for r in results} == set(dones)
    assert max(dones.values()) == 1


async def test_broker_restart_mid_stream_with_a_pool(broker: MosquittoProcess, unique_id: str,
                                                     tmp_path: Path) -> None:
    org_unit = f"pool/{unique_id}"
    pool = AgentRef.parse(f"{org_unit}/pool/workers")
    async with pool_of(broker.url, org_unit, "workers", 2, tmp_path) as (members, log), \
            A2AMqttClient(patient(broker.url), org="pool") as mqtt:  # type: ignore[arg-type]
        await wait_online(mqtt, [m.ref for m in members])
        t = mqtt.transport_for(pool)
        streams = [t.send_message_streaming(text(f"s{i}", metadata={"delay": 2.0}))
                   for i in range(6)]
        firsts = [await anext(s) for s in streams]
        assert all(f.WhichOneof("payload") == "task" for f in firsts)
        broker.restart()
        finals = []
        for s in streams:
            events = [e async for e in s]
            finals.append(events[-1].status_update.status.state)
    _starts, dones = executions(log)
    assert finals == [COMPLETED] * 6
    assert len(dones) == 6 and max(dones.values()) == 1
