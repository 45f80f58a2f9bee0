"""A task write the agent reported done survives ``kill -9`` of the agent process.

The agent runs on SQLite with group commit (the default for a database store) and,
not being a pool member, with mid-turn writes committed behind. A reply is published
only after the handler's turn-ending save returned, and that save returns only after
its shared transaction (and every earlier write of the task) committed; WAL with
``synchronous=NORMAL`` keeps every commit across a process crash (only a power loss
may take the last ones), so every task whose reply arrived must be in the file,
COMPLETED, after the kill.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from tests.behaviour.conftest import text
from tests.behaviour.pool.test_pool import Member, patient, wait_online

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


async def test_replied_tasks_survive_kill_9(broker: MosquittoProcess, unique_id: str,
                                            tmp_path: Path) -> None:
    org_unit = f"gc/{unique_id}"
    db = tmp_path / "agent.db"
    member = Member(broker.url, AgentRef.parse(f"{org_unit}/solo-0"), "solo",
                    f"sqlite:///{db}", tmp_path / "executions.log")
    # Not a pool member: the agent alone reads its store, so mid-turn writes go behind.
    member.args = [sys.executable, "-m", "tests.behaviour.server.solo_agent", broker.url,
                   str(member.ref), f"sqlite:///{db}", str(tmp_path / "executions.log")]
    member.start()
    try:
        async with A2AMqttClient(patient(broker.url), org="gc") as mqtt:  # type: ignore[arg-type]
            await wait_online(mqtt, [member.ref])
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
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT id, status FROM tasks").fetchall())
    for task_id in done:
        assert task_id in rows, f"task {task_id} was replied to but is not in the store"
        assert json.loads(rows[task_id])["state"] == "TASK_STATE_COMPLETED"
