"""Step agents that never answer or fail: the step's timeout, retries and on_failure decide."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import CancellableExecutor, EchoExecutor, echo_card
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.runner import WorkflowRunner
from tests.behaviour.conftest import requester_config, serve

pytestmark = pytest.mark.asyncio


class Broken(CancellableExecutor):
    """Fails every task with a reason."""

    def __init__(self) -> None:
        self.executions = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.executions += 1
        assert context.task_id is not None and context.context_id is not None
        if context.current_task is None:
            assert context.message is not None
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.failed(updater.new_agent_message([Part(text="sensor offline")]))


def workflow(on_failure: str, timeout: str = "1s") -> str:
    return textwrap.dedent(f"""\
        name: w
        steps:
          slow:
            agent: t/u/agent
            input: hello
            timeout: {timeout}
            retries: {{max: 1, backoff: 0}}
            on_failure: {on_failure}
        output: "status ${{steps.slow.status}}"
        """)


async def test_an_agent_that_never_answers_times_out_and_is_retried_then_skipped(
        broker: MosquittoProcess) -> None:
    slow = EchoExecutor(delay=30)
    async with serve(broker.url, "t/u/agent", slow, echo_card()), \
            A2AMqttClient(requester_config(broker.url)) as mqtt:
        started = asyncio.get_running_loop().time()
        state = await WorkflowRunner(client=mqtt).run(parse_workflow(workflow("skip")), {})
        elapsed = asyncio.get_running_loop().time() - started
    assert state.terminal == "completed"
    assert state.output == (("text", "status skipped"),)
    attempts = state.steps["slow"].attempts
    assert [a.outcome for a in attempts] == ["timed_out", "timed_out"]
    assert attempts[0].task_id != attempts[1].task_id
    assert slow.executions == 2
    assert elapsed < 10


async def test_an_agent_that_fails_fails_the_run_with_its_reason(
        broker: MosquittoProcess) -> None:
    broken = Broken()
    async with serve(broker.url, "t/u/agent", broken, echo_card()), \
            A2AMqttClient(requester_config(broker.url)) as mqtt:
        state = await WorkflowRunner(client=mqtt).run(
            parse_workflow(workflow("fail", timeout="10s")), {})
    assert state.terminal == "failed"
    assert state.error == "step 'slow' failed: sensor offline"
    assert broken.executions == 2  # the first attempt and its one retry
