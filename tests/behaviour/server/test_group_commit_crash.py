"""A task the agent answered survives ``kill -9`` of the agent process.

The agent runs on a database store with group commit (the default) and, not being
a pool member, with mid-turn writes committed behind and its in-flight claims and
releases in the same batches. A reply is published only after the handler's
turn-ending save returned, and that save returns only after its shared transaction
(and every earlier write of the task) committed; WAL with ``synchronous=NORMAL``
keeps every SQLite commit across a process crash (only a power loss may take the
last ones) and PostgreSQL's ``synchronous_commit=on`` flushes each. So every task
whose reply arrived, before or mid-flight at the kill, must be stored COMPLETED,
with either request handler.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from a2a.types.a2a_pb2 import SendMessageResponse, TaskState
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.server.stores import database_url
from tests.behaviour.conftest import requester_config, text
from tests.behaviour.pool.test_pool import Member, patient, wait_online

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


async def _stored_states(store_url: str, task_ids: set[str]) -> dict[str, str]:
    engine = create_async_engine(database_url(store_url))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sql("SELECT id, status FROM tasks"))).all()
    finally:
        await engine.dispose()
    states = {}
    for task_id, status in rows:
        if task_id in task_ids:
            states[task_id] = (json.loads(status) if isinstance(status, str) else status)["state"]
    return states


def _solo(broker: MosquittoProcess, ref: AgentRef, store_url: str, tmp_path: Path,
          handler: str) -> Member:
    member = Member(broker.url, ref, "solo", store_url, tmp_path / "executions.log")
    # Not a pool member: the agent alone reads its store, so mid-turn writes go behind.
    member.args = [sys.executable, "-m", "tests.behaviour.server.solo_agent", broker.url,
                   str(ref), store_url, str(tmp_path / "executions.log")]
    if handler == "fast":
        member.args.append("fast")
    return member


async def _online(mqtt: A2AMqttClient, member: Member) -> None:
    try:
        await wait_online(mqtt, [member.ref])
    except TimeoutError:
        pytest.fail(f"the agent did not come online within 30 s:\n{member.log_tail()}")


@pytest.mark.parametrize("handler", ["default", "fast"])
async def test_replied_tasks_survive_kill_9(broker: MosquittoProcess, unique_id: str,
                                            tmp_path: Path, store_url: str,
                                            handler: str) -> None:
    member = _solo(broker, AgentRef.parse(f"gc/{unique_id}/solo-0"), store_url, tmp_path,
                   handler)
    member.start()
    try:
        async with A2AMqttClient(patient(broker.url), org="gc") as mqtt:  # type: ignore[arg-type]
            await _online(mqtt, member)
            t = mqtt.transport_for(member.ref)
            # 40 concurrent requests: their writes share transactions (group commit).
            replies = await asyncio.gather(*(t.send_message(text(f"job {i}",
                                                                 metadata={"delay": 0}))
                                             for i in range(40)))
            member.kill9()  # no graceful stop: nothing may be flushed on the way out
    finally:
        member.terminate()
    done = {r.task.id for r in replies if r.task.status.state == TaskState.TASK_STATE_COMPLETED}
    assert len(done) == 40
    states = await _stored_states(store_url, done)
    assert states == dict.fromkeys(done, "TASK_STATE_COMPLETED")


@pytest.mark.parametrize("handler", ["default", "fast"])
async def test_kill_9_mid_flight_loses_no_answered_task(broker: MosquittoProcess,
                                                        unique_id: str, tmp_path: Path,
                                                        store_url: str, handler: str) -> None:
    """The kill lands while about 100 turns are in flight, claims, writes committed
    behind and releases in the batches: whatever reply got out refers to a task stored
    COMPLETED."""
    member = _solo(broker, AgentRef.parse(f"gc/{unique_id}/solo-1"), store_url, tmp_path,
                   handler)
    member.start()
    answered: list[SendMessageResponse] = []
    try:
        config = requester_config(broker.url, reply_first_timeout=30)
        async with A2AMqttClient(config, org="gc") as mqtt:
            await _online(mqtt, member)
            t = mqtt.transport_for(member.ref)

            async def one(i: int) -> None:
                answered.append(await t.send_message(text(f"job {i}",
                                                          metadata={"delay": 0.01})))

            async def keep_sending(stop: asyncio.Event) -> None:
                i = 0
                pending: set[asyncio.Task[Any]] = set()
                while not stop.is_set():
                    while len(pending) < 100:
                        pending.add(asyncio.create_task(one(i), name=f"send-{i}"))
                        i += 1
                    _done, pending = await asyncio.wait(pending,
                                                        return_when=asyncio.FIRST_COMPLETED)
                await asyncio.wait(pending, timeout=3)  # replies already on their way
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

            stop = asyncio.Event()
            sender = asyncio.create_task(keep_sending(stop), name="sender")
            async with asyncio.timeout(60):
                while len(answered) < 150:
                    await asyncio.sleep(0.01)
            member.kill9()
            stop.set()
            await sender
    finally:
        member.terminate()
    done = {r.task.id for r in answered}
    assert len(done) >= 150
    assert all(r.task.status.state == TaskState.TASK_STATE_COMPLETED for r in answered)
    states = await _stored_states(store_url, done)
    assert states == dict.fromkeys(done, "TASK_STATE_COMPLETED")
