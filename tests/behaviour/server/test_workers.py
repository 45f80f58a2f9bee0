"""``serve_agents(..., workers=N)``: N processes of one agent share its requests
(partitioned or claimed on Mosquitto) behind one card the supervisor holds: a killed
worker loses nothing, comes back, and the card never goes offline meanwhile; SIGTERM
and a terminal's Ctrl-C stop them all; the parent's death takes the card offline and
the workers down; one /metrics serves every worker."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskState,
)
from prometheus_client.parser import text_string_to_metric_families

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import BrokerURL
from a2a_mqtt.mqtt_types import ConnectOptions, IncomingMessage, Subscription
from a2a_mqtt.transport.mqtt5_transport import Mqtt5Transport
from tests.behaviour.conftest import requester_config, text
from tests.behaviour.pool.test_pool import wait_online

ROOT = Path(__file__).parents[3]


def children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (from /proc: no extra dependency)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


async def until(check: object, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.05)


@asynccontextmanager
async def served(url: str, ref: AgentRef, tmp: Path, workers: int = 2,
                 dispatch: str = "auto", metrics_port: int | None = None,
                 env: dict[str, str] | None = None,
                 ) -> AsyncIterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp / "executions.log"
    extra = [] if metrics_port is None else [str(metrics_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.behaviour.server.workers_agent", url, str(ref),
         f"sqlite:///{tmp}/agent.db", str(log), str(workers), dispatch, *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        env={**os.environ, **(env or {})},
        start_new_session=True)  # its own process group, as a terminal gives it
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def pids_of(log: Path) -> collections.Counter[int]:
    lines = log.read_text().splitlines() if log.exists() else []
    return collections.Counter(int(line.split()[2]) for line in lines
                               if line.startswith("start"))


def ready(log: Path) -> bool:
    return log.exists() and "ready" in log.read_text().splitlines()


@asynccontextmanager
async def card_watch(url: str, ref: AgentRef, name: str) -> AsyncIterator[list[tuple[str, str]]]:
    """Every (status, source) published on the agent's card topic while inside."""
    seen: list[tuple[str, str]] = []

    def on_card(msg: IncomingMessage) -> None:
        if msg.payload:
            seen.append(P.status_of(msg.properties))

    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url),
                                             client_id=f"test/watchers/{name}"))
    await transport.subscribe(Subscription(discovery_topic(ref), qos=1), on_card)
    async with transport:
        yield seen


@pytest.mark.asyncio
async def test_both_workers_serve_and_sigterm_stops_all(broker: MosquittoProcess,
                                                        unique_id: str, tmp_path: Path) -> None:
    ref = AgentRef("test", "workers", unique_id)
    async with served(broker.url, ref, tmp_path) as (proc, log), \
            A2AMqttClient(requester_config(broker.url, reply_first_timeout=30)) as mqtt:
        await wait_online(mqtt, [ref])
        await until(lambda: ready(log))
        workers = children(proc.pid)
        assert len(workers) == 2
        t = mqtt.transport_for(ref)
        # 4 slots per worker, 16 slow requests at once: one worker alone cannot take them all.
        results = await asyncio.gather(*(t.send_message(text(f"r{i}", metadata={"delay": 0.3}))
                                         for i in range(16)))
        assert all(r.task.status.state == TaskState.TASK_STATE_COMPLETED for r in results)
        per_pid = pids_of(log)
        assert set(per_pid) == workers, (per_pid, workers)  # both served, nobody else did
        assert sum(per_pid.values()) == 16  # each request executed exactly once
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        assert not any(Path(f"/proc/{p}").exists() for p in workers)  # reaped, none left
        await wait_online(mqtt, [ref], online=False, timeout=10)


@pytest.mark.asyncio
@pytest.mark.parametrize("dispatch", ["partition", "claim"])
async def test_kill_9_of_a_worker_loses_nothing_it_restarts_and_the_card_stays_online(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path, dispatch: str) -> None:
    ref = AgentRef("test", "workers", unique_id)
    requester = requester_config(broker.url, reply_first_timeout=30, stream_idle_timeout=30,
                                 max_attempts=1)
    async with served(broker.url, ref, tmp_path, dispatch=dispatch) as (proc, log), \
            A2AMqttClient(requester) as mqtt, card_watch(broker.url, ref, unique_id) as cards:
        await wait_online(mqtt, [ref])
        await until(lambda: ready(log))
        t = mqtt.transport_for(ref)
        pending = [asyncio.create_task(t.send_message(text(f"slow {i}",
                                                           metadata={"delay": 1.0})))
                   for i in range(16)]
        await until(lambda: len(pids_of(log)) == 2, 20)  # both workers mid-work
        victim = min(pids_of(log))
        os.kill(victim, signal.SIGKILL)
        results: list[SendMessageResponse] = await asyncio.wait_for(asyncio.gather(*pending), 90)
        # The parent restarted the victim: two workers again, one of them new.
        await until(lambda: len(children(proc.pid)) == 2 and victim not in children(proc.pid))
        # Answered once more after the restart, by both workers' shares.
        after = await asyncio.gather(*(t.send_message(text(f"after {i}")) for i in range(8)))
        assert all(r.task.status.state == TaskState.TASK_STATE_COMPLETED for r in after)
        await mqtt.requester.barrier()
        assert cards and all(status == "online" for status, _ in cards), cards
    states = collections.Counter(TaskState.Name(r.task.status.state) for r in results)
    dones = collections.Counter(line.split()[1] for line in log.read_text().splitlines()
                                if line.startswith("done"))
    assert len(results) == 16
    assert set(states) <= {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}, states
    for r in results:  # each answered: done exactly once, or failed with the reason
        if r.task.status.state == TaskState.TASK_STATE_COMPLETED:
            assert dones[r.task.id] == 1, r.task.id
        else:
            reason = r.task.status.message.parts[0].text
            assert "restarted" in reason or "offline" in reason, reason


def test_memory_store_with_workers_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "a2a_mqtt.cli.main", "example", "echo", "--workers", "2",
         "--broker", "mqtt://127.0.0.1:1"], check=False, capture_output=True, text=True,
        timeout=60, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "A2A_MQTT_TASK_STORE"})
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "memory://" in errors[0], done.stderr


@pytest.mark.asyncio
async def test_ctrl_c_to_the_process_group_stops_all_and_takes_the_card_offline(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    ref = AgentRef("test", "workers", unique_id)
    async with served(broker.url, ref, tmp_path) as (proc, log), \
            A2AMqttClient(requester_config(broker.url, reply_first_timeout=30)) as mqtt, \
            card_watch(broker.url, ref, unique_id) as cards:
        await wait_online(mqtt, [ref])
        await until(lambda: ready(log))
        workers = children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert await asyncio.to_thread(proc.wait, 30) == 0
        assert not any(Path(f"/proc/{p}").exists() for p in workers)
        await wait_online(mqtt, [ref], online=False, timeout=10)
    assert cards[-1] == ("offline", "agent")  # said by the supervisor, not its will


@pytest.mark.asyncio
async def test_kill_9_of_the_supervisor_fires_the_will_and_stops_the_workers(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    ref = AgentRef("test", "workers", unique_id)
    async with served(broker.url, ref, tmp_path) as (proc, log), \
            A2AMqttClient(requester_config(broker.url)) as mqtt, \
            card_watch(broker.url, ref, unique_id) as cards:
        await wait_online(mqtt, [ref])
        await until(lambda: ready(log))
        workers = children(proc.pid)
        proc.kill()
        await asyncio.to_thread(proc.wait, 10)
        # The workers closed their copies of the card's socket: the will fires at once.
        await wait_online(mqtt, [ref], online=False, timeout=5)
        assert cards[-1] == ("offline", "lwt")
        # And they notice the parent is gone and stop on their own.
        await until(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 30)


@pytest.mark.asyncio
async def test_one_metrics_endpoint_for_all_workers(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    ref = AgentRef("test", "workers", unique_id)
    async with served(broker.url, ref, tmp_path, metrics_port=0) as (_proc, log), \
            A2AMqttClient(requester_config(broker.url, reply_first_timeout=30)) as mqtt:
        await wait_online(mqtt, [ref])
        await until(lambda: ready(log))
        url = next(line.split()[1] for line in log.read_text().splitlines()
                   if line.startswith("metrics "))
        t = mqtt.transport_for(ref)
        await asyncio.gather(*(t.send_message(text(f"m{i}")) for i in range(12)))
        async with httpx.AsyncClient(timeout=10) as http:
            ready_reply = await http.get(f"{url}/readyz")
            body = (await http.get(f"{url}/metrics")).text
    assert ready_reply.status_code == 200, ready_reply.text
    assert ready_reply.json()["checks"] == {"cards": True, "worker 0": True, "worker 1": True}
    families = {f.name: f for f in text_string_to_metric_families(body)}
    up = {s.labels["worker"]: s.value for s in families["a2a_mqtt_worker_up"].samples}
    assert up == {"0": 1.0, "1": 1.0}
    served_by: collections.Counter[str] = collections.Counter()
    for family in families.values():
        if family.name == "rpc_server_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    served_by[sample.labels["worker"]] += int(sample.value)
    assert sum(served_by.values()) == 12, (served_by, body[:2000])
    assert set(served_by) == {"0", "1"}  # each worker's figures, told apart


def lines(log: Path, word: str) -> dict[str, int]:
    """Task id -> the pid of its ``word`` line (start, done, stopped)."""
    found = {}
    for line in (log.read_text().splitlines() if log.exists() else []):
        parts = line.split()
        if parts[0] == word:
            found[parts[1]] = int(parts[2])
    return found


@pytest.mark.asyncio
async def test_every_request_for_a_task_reaches_the_worker_running_it(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    """Partition workers run their tasks alone (no cross-process event stream, writes
    behind): GetTask, SubscribeToTask and CancelTask of a task one worker runs, each
    with fresh Correlation Data (a correlation hash would send half of them to the other
    worker), see its live state, stream its events, and stop its executor at once."""
    ref = AgentRef("test", "workers", unique_id)
    requester = requester_config(broker.url, reply_first_timeout=30, stream_idle_timeout=30)
    async with served(broker.url, ref, tmp_path, dispatch="partition") as (_proc, log), \
            A2AMqttClient(requester) as mqtt:
        await wait_online(mqtt, [ref])
        await until(lambda: ready(log))
        t = mqtt.transport_for(ref)
        # Two tasks per worker (Task.ids picked by their CRC-32, as worker_of does): two
        # subscriptions and a cancel stay within a worker's 4 slots.
        ids = (str(uuid.uuid4()) for _ in range(1000))
        picked = sorted(ids, key=lambda tid: zlib.crc32(tid.encode()) % 2)
        sent = []
        for tid in picked[:2] + picked[-2:]:
            request = text(f"slow {tid}", task_id=tid, metadata={"delay": 60})
            request.configuration.return_immediately = True
            sent.append((await t.send_message(request)).task.id)
        assert sent == picked[:2] + picked[-2:]
        await until(lambda: set(lines(log, "start")) == set(sent))
        assert len(set(lines(log, "start").values())) == 2  # both workers run some
        for task_id in sent:
            for _ in range(4):
                got = await t.get_task(GetTaskRequest(id=task_id))
                assert got.status.state == TaskState.TASK_STATE_WORKING
        events: dict[str, list[StreamResponse]] = {tid: [] for tid in sent}

        async def follow(task_id: str) -> None:
            async for item in t.subscribe(SubscribeToTaskRequest(id=task_id)):
                events[task_id].append(item)

        follows = [asyncio.create_task(follow(tid)) for tid in sent]
        await until(lambda: all(events.values()))  # each has its current task
        for task_id in sent:
            cancelled = await t.cancel_task(CancelTaskRequest(id=task_id))
            assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        await asyncio.wait_for(asyncio.gather(*follows), 30)  # each stream ended
        for task_id in sent:
            assert events[task_id][0].task.id == task_id
            last = events[task_id][-1]
            assert last.status_update.status.state == TaskState.TASK_STATE_CANCELED, last
        # Each executor was stopped, in the worker that ran it, and none finished.
        await until(lambda: set(lines(log, "stopped")) == set(sent), timeout=10)
        assert lines(log, "stopped") == lines(log, "start")
        assert not lines(log, "done")
