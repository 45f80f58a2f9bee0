"""A step agent that refuses the re-send of a task it already finished.

Binding §6.2 has a responder answer a repeated message on a known task with the stored
task; a peer that does not (a2a-sdk alone answers "Task ... is in terminal state") must
not make the supervisor fail the attempt and run the step again under a new Task.id.
The supervisor reads the task with GetTask instead and takes its outcome.

The agent here is raw MQTT (the transport seam only): its first answer to a step is the
task WORKING and then silence (a lost stream), so the supervisor re-sends; the re-send
is refused with -32004 (unsupported operation); GetTask returns the task COMPLETED.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.transport.base import IncomingMessage, MqttTransport
from tests.behaviour.workflows.support import Outcome, call, serve_raw_agent, supervisor
from tests.behaviour.workflows.worker import worker_card

pytestmark = pytest.mark.asyncio

FLOW = """
name: refused
steps:
  only:
    agent: {ref: test/unit/forgetful}
    input: {data: {step: only}}
    retries: {max: 2, backoff: 50ms}
    timeout: 20s
output:
  data: {value: "${steps.only.output.data.value}"}
"""


class ForgetfulAgent:
    """Runs each task once; refuses any later SendMessage on it; answers GetTask."""

    def __init__(self, *, garbage_get: bool = False) -> None:
        self.garbage_get = garbage_get
        """Answer GetTask with bytes that are not JSON (a hostile agent)."""
        self.executions: list[str] = []
        self.refused = 0
        self.tasks: dict[str, dict[str, Any]] = {}

    def _task(self, task_id: str, context_id: str, state: str) -> dict[str, Any]:
        task: dict[str, Any] = {"id": task_id, "contextId": context_id,
                                "status": {"state": state}}
        if state == "TASK_STATE_COMPLETED":
            task["artifacts"] = [{"artifactId": "a1", "name": "result",
                                  "parts": [{"data": {"value": 42}}]}]
        return task

    def on_request(self, transport: MqttTransport, msg: IncomingMessage) -> None:
        topic = msg.properties.response_topic
        if not topic:
            return
        request = json.loads(msg.payload)
        rid, method, params = request["id"], request["method"], request.get("params", {})

        def reply(body: dict[str, Any], *, end: bool) -> None:
            props = P.reply_properties(correlation_data=msg.properties.correlation_data,
                                       end=end)
            asyncio.get_running_loop().create_task(transport.publish(
                topic, json.dumps({"jsonrpc": "2.0", "id": rid, **body}).encode(), qos=1,
                properties=props))

        if method in ("SendMessage", "SendStreamingMessage"):
            message = params["message"]
            task_id = message["taskId"]
            if task_id in self.tasks:
                self.refused += 1
                reply({"error": {"code": -32004, "message": f"Task {task_id} is in terminal "
                                 "state: TASK_STATE_COMPLETED"}}, end=True)
                return
            self.executions.append(task_id)
            self.tasks[task_id] = self._task(task_id, message.get("contextId", ""),
                                             "TASK_STATE_COMPLETED")
            working = self._task(task_id, message.get("contextId", ""), "TASK_STATE_WORKING")
            reply({"result": {"task": working}}, end=False)   # ... and then nothing
        elif method == "GetTask" and self.garbage_get:
            props = P.reply_properties(correlation_data=msg.properties.correlation_data,
                                       end=True)
            asyncio.get_running_loop().create_task(transport.publish(
                topic, b"\xff\xfe not json {", qos=1, properties=props))
        elif method == "GetTask":
            task = self.tasks.get(params["id"])
            if task is None:
                reply({"error": {"code": -32001, "message": "Task not found"}}, end=True)
            else:
                reply({"result": task}, end=True)
        else:
            reply({"error": {"code": -32601, "message": "Method not found"}}, end=True)


async def run_flow(broker: MosquittoProcess, run_db: str, mqtt: A2AMqttClient,
                   agent: ForgetfulAgent) -> Outcome:
    """Serve ``agent`` as the step's agent, run FLOW once under a supervisor and return
    the run's outcome (the agent stopped after)."""
    running_agent = asyncio.create_task(serve_raw_agent(
        broker.url, AgentRef.parse("test/unit/forgetful"), worker_card("forgetful"),
        agent.on_request), name="forgetful-agent")
    try:
        async with supervisor(broker.url, run_db, FLOW, stream_idle_timeout=0.5):
            client = await mqtt.connect("wf/test/refused", timeout=5)
            return await asyncio.wait_for(
                call(client, {}, outcome=Outcome(str(uuid.uuid4()))), 30)
    finally:
        running_agent.cancel()
        await asyncio.gather(running_agent, return_exceptions=True)


async def test_a_refused_resend_takes_the_stored_outcome_not_a_second_run(
        broker: MosquittoProcess, run_db: str, mqtt: A2AMqttClient) -> None:
    agent = ForgetfulAgent()
    seen = await run_flow(broker, run_db, mqtt, agent)
    assert agent.refused >= 1                      # the re-send really was refused
    assert len(agent.executions) == 1              # and the step ran once
    assert seen.state == TaskState.TASK_STATE_COMPLETED, seen.error
    assert seen.output == [{"value": 42}]
    assert not [p for p in seen.progress if p["event"] == "step_failed"]


async def test_a_refused_resend_whose_task_cannot_be_read_fails_the_attempt(
        broker: MosquittoProcess, run_db: str, mqtt: A2AMqttClient) -> None:
    """Hostile: GetTask answered with garbage. The attempt fails as an answer from the
    agent (no hang, no invented outcome), and the step's retries and policy apply."""
    agent = ForgetfulAgent(garbage_get=True)
    seen = await run_flow(broker, run_db, mqtt, agent)
    assert len(agent.executions) == 3              # the first try and both retries
    assert seen.state == TaskState.TASK_STATE_FAILED
    failures = [p for p in seen.progress if p["event"] == "step_failed"]
    assert len(failures) == 3
    assert all("UnsupportedOperation" in p["error"] for p in failures)
