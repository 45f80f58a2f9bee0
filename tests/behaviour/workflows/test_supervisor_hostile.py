"""Bad step agents get the step's failure policy; bad callers get clear errors; nothing hangs.

Real Mosquitto, an in-process supervisor on SQLite, and three kinds of bad agent: one
that answers garbage (not JSON-RPC), one that goes offline mid-step, one that never
answers (covered by the timeout test in test_supervisor.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from a2a.types.a2a_pb2 import GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.transport.base import IncomingMessage, MqttTransport
from a2a_mqtt.workflows.wfagent import workflow_card
from tests.behaviour.conftest import serve
from tests.behaviour.workflows.support import (
    Outcome,
    call,
    effects,
    serve_raw_agent,
    supervisor,
)
from tests.behaviour.workflows.worker import EffectExecutor, worker_card

pytestmark = pytest.mark.asyncio

HOSTILE = """
name: hostile
steps:
  garbage:
    agent: {ref: test/unit/garbage}
    input: {data: {step: garbage}}
    retries: {max: 1, backoff: 50ms}
    timeout: 5s
    on_failure: skip
  vanish:
    agent: {ref: test/unit/vanish}
    input: {data: {step: vanish, mode: never}}
    timeout: 1500ms
    on_failure: {fallback: manual}
  manual:
    agent: {ref: test/unit/worker}
    input: {data: {step: manual, value: by-hand}}
output:
  data: {garbage: "${steps.garbage.status}", vanish: "${steps.vanish.output.data.value}"}
"""


def _answer_garbage(transport: MqttTransport, msg: IncomingMessage) -> None:
    """test/unit/garbage answers every request with non-JSON."""
    topic = msg.properties.response_topic
    if topic:
        props = P.reply_properties(correlation_data=msg.properties.correlation_data, end=True)
        asyncio.get_running_loop().create_task(
            transport.publish(topic, b"\xff not json {", qos=1, properties=props))


def _garbage_agent(url: str) -> Coroutine[Any, Any, None]:
    return serve_raw_agent(url, AgentRef.parse("test/unit/garbage"), worker_card("garbage"),
                           _answer_garbage)


async def test_garbage_and_vanishing_agents_get_the_failure_policy(
        broker: MosquittoProcess, effect_log: Path, run_db: str, step_agent: EffectExecutor,
        mqtt: A2AMqttClient) -> None:
    log = effect_log
    garbage = asyncio.create_task(_garbage_agent(broker.url))
    try:
        async with supervisor(broker.url, run_db, HOSTILE):
            vanish = serve(broker.url, "test/unit/vanish", EffectExecutor(str(log)),
                           worker_card("vanish"), shutdown_grace=0.1)
            await vanish.__aenter__()
            client = await mqtt.connect("wf/test/hostile", timeout=5)
            seen = Outcome(str(uuid.uuid4()))
            running = asyncio.create_task(call(client, {}, outcome=seen))
            for _ in range(250):
                if any(p.get("step") == "vanish" and p["event"] == "step_started"
                       for p in seen.progress):
                    break
                await asyncio.sleep(0.02)
            await vanish.__aexit__(None, None, None)   # the agent goes away mid-step
            seen = await asyncio.wait_for(running, 20)
    finally:
        garbage.cancel()
        await asyncio.gather(garbage, return_exceptions=True)
    assert seen.state == TaskState.TASK_STATE_COMPLETED, seen.error
    assert seen.output == [{"garbage": "skipped", "vanish": "by-hand"}]
    garbage_failures = [p for p in seen.progress
                        if p["event"] == "step_failed" and p["step"] == "garbage"]
    assert len(garbage_failures) == 2                       # first try and one retry
    assert all("malformed" in p["error"] for p in garbage_failures)
    vanished = [p for p in seen.progress if p["event"] == "step_failed"
                and p["step"] == "vanish"]
    assert vanished and vanished[0]["timedOut"] and vanished[0]["then"] == "fallen_back"
    assert effects(log) == {"manual": 1}


async def test_bad_requests_get_clear_errors(broker: MosquittoProcess, run_db: str,
                                            mqtt: A2AMqttClient) -> None:
    async with supervisor(broker.url, run_db, HOSTILE):
        client = await mqtt.connect("wf/test/hostile", timeout=5)
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=str(uuid.uuid4())))
        bad_id = Message(message_id="m1", role=Role.ROLE_USER, task_id="not-a-uuid",
                         parts=[Part(text="{}")])
        with pytest.raises(InvalidParamsError, match="taskId"):
            async for _ in client.send_message(SendMessageRequest(message=bad_id)):
                pass
        not_json = Message(message_id="m2", role=Role.ROLE_USER, task_id=str(uuid.uuid4()),
                           parts=[Part(text="make it so")])
        items = [i async for i in client.send_message(SendMessageRequest(message=not_json))]
        assert items[-1].task.status.state == TaskState.TASK_STATE_FAILED
        assert "data part" in items[-1].task.status.message.parts[0].text
        assert workflow_card  # the card builder is what the supervisor publishes
