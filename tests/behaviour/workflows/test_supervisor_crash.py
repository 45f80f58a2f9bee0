"""Crash recovery with real processes: 2-3 supervisors (``a2a-mqtt workflow serve``), a step
agent process with an execution log, real Mosquitto and a shared SQLite run database.

In every case: the run reaches exactly one terminal state (COMPLETED), each step's effect
ran exactly once (counted in the agent's log), and the caller's one stream is coherent:
one terminal item; every item carries its event's log position (``seq``); an item
repeated after a takeover is identical to the first copy, and once repeats are dropped
the positions only go forward; every step's output is in it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.workflows.crash import POINTS
from tests.behaviour.conftest import requester_config
from tests.behaviour.workflows.support import Outcome, call, effects

pytestmark = pytest.mark.asyncio

CHAIN = """
name: chain
inputs: {x: integer}
steps:
  a:
    agent: {ref: test/unit/worker}
    input: {data: {step: a, sleep: 0.2, value: "${inputs.x}"}}
    retries: {max: 2, backoff: 100ms}
  b:
    agent: {ref: test/unit/worker}
    needs: a
    input: {data: {step: b, sleep: 1.0, value: "${steps.a.output.data.value}"}}
    retries: {max: 2, backoff: 100ms}
  c:
    agent: {ref: test/unit/worker}
    needs: a
    input: {data: {step: c, sleep: 0.2, value: "${steps.a.output.data.value}"}}
    retries: {max: 2, backoff: 100ms}
  d:
    agent: {ref: test/unit/worker}
    needs: [b, c]
    input: {data: {step: d, value: "${steps.b.output.data.value}+${steps.c.output.data.value}"}}
output:
  data: {d: "${steps.d.output.data.value}"}
"""


class World:
    def __init__(self, broker: MosquittoProcess, tmp: Path) -> None:
        self.broker = broker
        self.tmp = tmp
        self.db = f"sqlite:///{tmp / 'runs.db'}"
        self.log = tmp / "effects.log"
        self.file = tmp / "chain.yaml"
        self.file.write_text(CHAIN)
        self.sups: dict[str, subprocess.Popen[bytes]] = {}
        self.worker: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "A2A_MQTT_LOOP": "asyncio"}

    def start_supervisor(self, sup_id: str, **env: str) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"{sup_id}.err", "ab") as err:  # the child keeps its own fd
            proc = subprocess.Popen(
                [sys.executable, "-m", "a2a_mqtt", "-v", "workflow", "serve", str(self.file),
                 "--db", self.db, "--broker", self.broker.url, "--org", "wf", "--unit",
                 "test", "--id", sup_id, "--lease-ttl", "2", "--poll-interval", "0.2",
                 "--stream-idle-timeout", "2"],
                env={**self.env, **env}, stdout=subprocess.DEVNULL, stderr=err)
        self.sups[sup_id] = proc
        return proc

    def start_worker(self) -> None:
        with open(self.tmp / "worker.err", "ab") as err:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "tests.behaviour.workflows.worker", self.broker.url,
                 "test/unit/worker", f"sqlite:///{self.tmp / 'worker.db'}", str(self.log)],
                env=self.env, stdout=subprocess.DEVNULL, stderr=err)

    def serving(self, sup_id: str) -> bool:
        err = self.tmp / f"{sup_id}.err"
        return err.exists() and f"workflows: supervisor {sup_id} serving" in err.read_text()

    def owner(self, run_id: str) -> tuple[str, int] | None:
        with sqlite3.connect(self.tmp / "runs.db") as conn:
            row = conn.execute("SELECT owner, epoch FROM workflow_run WHERE run_id = ?",
                               (run_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def terminal_events(self, run_id: str) -> list[str]:
        with sqlite3.connect(self.tmp / "runs.db") as conn:
            rows = conn.execute("SELECT kind FROM workflow_event WHERE run_id = ? AND kind IN "
                                "('RunCompleted', 'RunFailed', 'RunCancelled')",
                                (run_id,)).fetchall()
        return [r[0] for r in rows]

    def stop(self) -> None:
        for proc in [*self.sups.values(), self.worker]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.sups.values(), self.worker]:
            if proc is not None:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def world(broker: MosquittoProcess, tmp_path: Path) -> Iterator[World]:
    w = World(broker, tmp_path)
    w.start_worker()
    yield w
    w.stop()


@pytest_asyncio.fixture
async def mqtt(broker: MosquittoProcess) -> AsyncIterator[A2AMqttClient]:
    config = requester_config(broker.url, reply_first_timeout=40.0, stream_idle_timeout=40.0,
                              session_expiry=120)
    async with A2AMqttClient(config) as client:
        yield client


async def _until(predicate: Any, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _check(world: World, seen: Outcome) -> None:
    assert seen.state == TaskState.TASK_STATE_COMPLETED, seen.error
    assert seen.output == [{"d": "7+7"}]
    assert seen.terminal_count() == 1
    assert seen.coherent(), seen.seqs
    outputs = {p["step"] for p in seen.progress if p["event"] == "step_output"}
    assert outputs == {"a", "b", "c", "d"}
    assert effects(world.log) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert world.terminal_events(seen.task_id) == ["RunCompleted"]


async def _run(mqtt: A2AMqttClient, seen: Outcome) -> Outcome:
    client = await mqtt.connect("wf/test/chain", timeout=45)
    return await call(client, {"x": 7}, outcome=seen)


@pytest.mark.parametrize("point", POINTS)
async def test_kill_9_of_the_owner_at_each_crash_point(world: World, mqtt: A2AMqttClient,
                                                       point: str) -> None:
    env = {"A2A_MQTT_WF_CRASH_AT": f"{point}:b",
           "A2A_MQTT_WF_CRASH_ONCE": str(world.tmp / "crashed")}
    for sup_id in ("sup-1", "sup-2"):
        world.start_supervisor(sup_id, **env)
    seen = await asyncio.wait_for(_run(mqtt, Outcome(str(uuid.uuid4()))), 120)
    _check(world, seen)
    codes = [p.poll() for p in world.sups.values()]
    assert codes.count(137) == 1, codes          # exactly the owner died, at that point
    owner = world.owner(seen.task_id)
    assert owner is not None and owner[1] >= 2   # taken over under a new epoch


async def test_kill_9_of_the_owner_while_a_step_runs(world: World,
                                                     mqtt: A2AMqttClient) -> None:
    for sup_id in ("sup-1", "sup-2", "sup-3"):
        world.start_supervisor(sup_id)
    seen = Outcome(str(uuid.uuid4()))
    running = asyncio.create_task(_run(mqtt, seen))
    await _until(lambda: any(p.get("event") == "step_started" and p["step"] == "b"
                             for p in seen.progress))
    owner = world.owner(seen.task_id)
    assert owner is not None
    world.sups[owner[0]].send_signal(signal.SIGKILL)
    seen = await asyncio.wait_for(running, 120)
    _check(world, seen)
    after = world.owner(seen.task_id)
    assert after is not None and after[0] != owner[0] and after[1] > owner[1]


async def test_kill_9_of_the_step_agent_mid_task(world: World, mqtt: A2AMqttClient) -> None:
    world.start_supervisor("sup-1")
    world.start_supervisor("sup-2")
    seen = Outcome(str(uuid.uuid4()))
    running = asyncio.create_task(_run(mqtt, seen))
    await _until(lambda: world.log.exists() and "start b" in world.log.read_text())
    assert world.worker is not None
    world.worker.send_signal(signal.SIGKILL)
    world.worker.wait()
    world.start_worker()  # its task store says b was cut short: the attempt fails, b retries
    seen = await asyncio.wait_for(running, 120)
    _check(world, seen)
    starts = [line for line in world.log.read_text().splitlines() if line.startswith("start b")]
    assert len(starts) == 2                       # the cut-short attempt and its retry


async def test_broker_restart_mid_run(world: World, mqtt: A2AMqttClient) -> None:
    world.start_supervisor("sup-1")
    world.start_supervisor("sup-2")
    seen = Outcome(str(uuid.uuid4()))
    running = asyncio.create_task(_run(mqtt, seen))
    await _until(lambda: any(p.get("event") == "step_started" and p["step"] == "b"
                             for p in seen.progress))
    world.broker.restart()
    seen = await asyncio.wait_for(running, 120)
    _check(world, seen)


async def test_a_run_requested_while_every_supervisor_is_down(world: World,
                                                              mqtt: A2AMqttClient) -> None:
    for sup_id in ("sup-1", "sup-2"):
        world.start_supervisor(sup_id)
    client = await mqtt.connect("wf/test/chain", timeout=45)   # the card is retained
    # Both logged that they serve (after subscribing): both sessions hold the request topic.
    await _until(lambda: all(world.serving(sup_id) for sup_id in ("sup-1", "sup-2")))
    for proc in world.sups.values():
        proc.send_signal(signal.SIGTERM)
    for proc in world.sups.values():
        proc.wait(10)
    seen = Outcome(str(uuid.uuid4()))
    running = asyncio.create_task(call(client, {"x": 7}, outcome=seen))
    await asyncio.sleep(0.5)
    assert not seen.items and world.owner(seen.task_id) is None   # nobody serves it yet
    world.start_supervisor("sup-2")
    seen = await asyncio.wait_for(running, 120)
    _check(world, seen)
