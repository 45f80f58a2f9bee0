"""An agent restarts on its store whatever its previous run left behind.

Hostile in-flight entries (a wildcard, ``$SYS``, another agent's topic, an id
that cannot be encoded) never stop the start: recovery fails every abandoned
task, tells each requester it can, logs the rest, and publishes nowhere else.
A full disk gets every request a retryable refusal, a start on it exits with
one line saying what to fix, and once space is free the agent starts and
still has its tasks. (Restart after ``kill -9``: tests/behaviour/server/
test_faults_load.py.)
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from a2a.client.errors import A2AClientTimeoutError
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import GetTaskRequest, TaskState
from a2a.utils.errors import A2AError
from sqlalchemy import func, select

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import StoreError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server.inflight import _TABLE, DatabaseInflightLog, InflightEntry
from a2a_mqtt.server.stores import TaskAccess, open_task_store
from a2a_mqtt.transport import ConnectOptions, IncomingMessage, Mqtt5Transport, Subscription
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import requester_config, serve, text

pytestmark = pytest.mark.asyncio

EARLIER_RUN = "earlier-run"


@asynccontextmanager
async def listener(url: str, name: str, *filters: str) -> AsyncIterator[
        asyncio.Queue[IncomingMessage]]:
    received: asyncio.Queue[IncomingMessage] = asyncio.Queue()
    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url),
                                             client_id=f"test/listeners/{name}"))
    for f in filters:
        await transport.subscribe(Subscription(f, qos=1), received.put_nowait)
    async with transport:
        yield received


async def seed(store: str, entries: list[InflightEntry]) -> None:
    """Leave ``entries`` in the store's in-flight log, as a crashed run would."""
    async with AsyncExitStack() as stack:
        opened = await open_task_store(store, stack)
        assert opened.engine is not None
        log = DatabaseInflightLog(opened.engine)
        await log.initialize()
        for e in entries:
            assert await log.claim(e)


async def left_in_log(store: str) -> int:
    async with AsyncExitStack() as stack:
        opened = await open_task_store(store, stack)
        assert opened.engine is not None
        async with opened.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(_TABLE))).scalar_one())


async def states(store: str, task_ids: list[str]) -> list[int | None]:
    async with AsyncExitStack() as stack:
        opened = await open_task_store(store, stack)
        tasks = TaskAccess(opened.store)
        ctx = ServerCallContext(state={"headers": {}})
        found = [await tasks.get(t, ctx) for t in task_ids]
    return [t.status.state if t is not None else None for t in found]


async def test_hostile_in_flight_entries_never_stop_a_restart(
        broker: MosquittoProcess, ref: AgentRef, store_url: str, unique_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    reply = f"$a2a/v1/reply/test/peers/{unique_id}/r"
    victim = AgentRef("test", "unit", f"victim-{unique_id}")

    def turn(topic: str, rid: str = '"r"', method: str = "unary") -> InflightEntry:
        return InflightEntry(task_id=str(uuid.uuid4()), message_id="m", owner=ref.client_id,
                             method=method, response_topic=topic, correlation=b"corr-" +
                             uuid.uuid4().hex.encode(), request_id=rid,
                             context_id=str(uuid.uuid4()), run=EARLIER_RUN)

    hostile = [turn("#"), turn("+"), turn("$SYS/broker/log/M"), turn(""),
               turn(request_topic(victim)), turn(discovery_topic(victim)),
               turn("$a2a/v1/reply/test/+/x")]
    # Answerable, though their stored JSON-RPC id cannot be sent back: answered with null.
    odd_ids = [turn(reply, rid="not json"), turn(reply, rid='"\\ud800"'),
               turn(reply, rid="[1, 2]")]
    good = [turn(reply, rid='"good-unary"'), turn(reply, rid="42", method="stream"),
            *odd_ids]
    # Good turns on both sides of the bad ones: the order recovery meets them in is not ours.
    entries = [good[0], *hostile, *good[1:]]
    await seed(store_url, entries)
    caplog.set_level(logging.WARNING, logger="a2a_mqtt.server")

    async with listener(broker.url, f"peer-{unique_id}", reply) as replies, \
            listener(broker.url, f"spy-{unique_id}", request_topic(victim),
                     discovery_topic(victim), discovery_topic(ref)) as spied:
        async with serve(broker.url, ref, EchoExecutor(), echo_card(),
                         task_store_url=store_url), \
                _client(broker.url) as mqtt:
            answers = [await asyncio.wait_for(replies.get(), 10) for _ in good]
            fresh = await mqtt.transport_for(ref).send_message(text("after recovery"))
        others = [spied.get_nowait() for _ in range(spied.qsize())]

    by_corr = {a.properties.correlation_data: json.loads(a.payload) for a in answers}
    assert [by_corr[e.correlation]["id"] for e in good] == ["good-unary", 42, None, None, None]
    stream = by_corr[good[1].correlation]["result"]["statusUpdate"]
    tasks = [by_corr[e.correlation]["result"]["task"] for e in good if e.method == "unary"]
    assert {t["status"]["state"] for t in tasks} == {stream["status"]["state"]} == {
        "TASK_STATE_FAILED"}
    assert all("restarted" in t["status"]["message"]["parts"][0]["text"] for t in tasks)
    assert {a.properties.correlation_data for a in answers} == {e.correlation for e in good}
    assert replies.empty()  # nothing for the entries that cannot be answered
    assert fresh.task.status.state == TaskState.TASK_STATE_COMPLETED
    # Nothing reached the victim; our card was never replaced by our will (no $SYS
    # publish, so no disconnect).
    assert [m.topic for m in others if m.topic != discovery_topic(ref)] == []
    assert [P.status_of(m.properties) for m in others
            if m.topic == discovery_topic(ref)] == [("online", "agent"), ("offline", "agent")]
    # Every abandoned task is failed in the store, answered or not, and the log is empty.
    assert await states(store_url, [e.task_id for e in entries]) == [
        TaskState.TASK_STATE_FAILED] * len(entries)
    assert await left_in_log(store_url) == 0
    not_told = [r for r in caplog.records if "requester not told" in r.getMessage()]
    assert len(not_told) == len(hostile)


@asynccontextmanager
async def _client(url: str) -> AsyncIterator[A2AMqttClient]:
    async with A2AMqttClient(requester_config(url)) as mqtt:
        yield mqtt


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can really fill up (needs root to mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as full:  # noqa: PT012
            while True:
                os.write(fd, b"\0" * 65536)
    finally:
        os.close(fd)
    assert full.value.errno == errno.ENOSPC
    return filler


async def test_full_disk_answers_then_refuses_to_start_in_one_line_then_recovers(
        broker: MosquittoProcess, ref: AgentRef, tiny_disk: Path) -> None:
    store = f"sqlite:///{tiny_disk}/agent.db"
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=store), \
            _client(broker.url) as mqtt:
        t = mqtt.transport_for(ref)
        before = await t.send_message(text("before"))
        filler = fill(tiny_disk)
        # Full: every request is still answered (with a retryable refusal or an error),
        # never left to time out, and the agent keeps serving.
        outcomes = []
        for i in range(3):
            try:
                outcomes.append((await t.send_message(text(f"full {i}"))).task.status.state)
            except A2AClientTimeoutError:
                raise
            except A2AError as exc:
                outcomes.append(type(exc).__name__)
    assert before.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert outcomes == ["ResponderUnavailableError"] * 3, outcomes

    # A start on the full disk fails with the store, the problem and the fix...
    with pytest.raises(StoreError, match=r"full .*free space there and start again"):
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=store):
            pass
    # ...which the CLI prints as its one last line, exiting non-zero.
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent", str(ref),
        "--broker", broker.url, "--task-store", store, "--session-expiry", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(cli.communicate(), 60)
    last = err.decode().strip().splitlines()[-1]
    assert cli.returncode == 1
    assert last.startswith(f"Error: StoreError: task store sqlite+aiosqlite:///{tiny_disk}"), last
    assert "full" in last and "free space there and start again" in last
    assert "Traceback" not in err.decode()

    filler.unlink()
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=store), \
            _client(broker.url) as mqtt:
        t = mqtt.transport_for(ref)
        after = await t.send_message(text("after"))
        kept = await t.get_task(GetTaskRequest(id=before.task.id))
    assert after.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert kept.status.state == TaskState.TASK_STATE_COMPLETED
