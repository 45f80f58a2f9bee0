"""Ephemeral workers (runner: ephemeral) spawned as subprocesses, against real Mosquitto.

Each attempt gets its own worker process serving one agent under a fresh reference;
it exits when the step is done, and its retained card is cleared. A worker killed
with SIGKILL mid-step is reported by its Last Will, and the retry policy runs a new
worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from a2a.types.a2a_pb2 import Message, Role, SendMessageRequest, TaskState

from a2a_mqtt.binding.stream import new_task_id
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.ephemeral import SubprocessLauncher
from a2a_mqtt.workflows.ephemeral_launch import EphemeralStepLauncher
from a2a_mqtt.workflows.model import Step
from a2a_mqtt.workflows.runner import WorkflowRunner, to_parts
from a2a_mqtt.workflows.state import Parts
from tests.behaviour.conftest import requester_config

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[3]

LINE_TEXT = """
name: ephemeral-line
inputs: {part: string}
steps:
  inspect:
    runner: ephemeral
    agent: a2a_mqtt.examples.workers:inspection
    input: {data: {part: "${inputs.part}"}}
    timeout: 60s
  quality:
    runner: ephemeral
    agent: {spawn: "a2a_mqtt.examples.workers:quality"}
    needs: inspect
    input: {data: "${steps.inspect.output.data}"}
    timeout: 60s
output:
  data: "${steps.quality.output.data}"
"""
LINE = parse_workflow(LINE_TEXT)


async def test_each_step_runs_in_its_own_worker_which_exits_and_leaves_no_card(
        broker: MosquittoProcess) -> None:
    launcher = SubprocessLauncher()
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        runner = WorkflowRunner(client=mqtt, launcher=launcher)
        state = await runner.run(LINE, {"part": "P-1001"})
        assert state.terminal == "completed", state.error
        assert dict(state.output or ())["data"]["part"] == "P-1001"
        assert dict(state.output or ())["data"]["decision"] in ("PASS", "REWORK", "REJECT",
                                                                  "HOLD")
        agents = [state.steps[s].attempts[0].agent for s in ("inspect", "quality")]
        assert all(a.startswith("workflows/workers/") for a in agents)
        assert len(set(agents)) == 2
        # Two processes, both gone on their own (status 0), and no card left retained.
        assert [w.process.returncode for w in launcher.started] == [0, 0]
        await mqtt.requester.barrier()
        assert [e.ref for e in mqtt.discovery.list() if str(e.ref) in agents] == []


async def test_a_worker_killed_mid_step_is_reported_by_its_will_and_retried(
        broker: MosquittoProcess, tmp_path: Path) -> None:
    workflow = parse_workflow("""
name: stall
steps:
  work:
    runner: ephemeral
    agent: tests.behaviour.workflows.ephemeral_agents:stalling
    input: "go"
    timeout: 60s
    retries: {max: 1, backoff: 0}
output: "${steps.work.output.text}"
""")
    launcher = SubprocessLauncher(env={"PYTHONPATH": str(ROOT),
                                       "EPHEMERAL_TEST_DIR": str(tmp_path)})
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        run = asyncio.create_task(WorkflowRunner(client=mqtt, launcher=launcher).run(
            workflow, {}))
        pid_file = tmp_path / "pid"
        async with asyncio.timeout(30):
            while not pid_file.exists() and not run.done():
                await asyncio.sleep(0.02)  # the first worker is inside its step
        assert not run.done()
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        state = await asyncio.wait_for(run, 60)
    assert state.terminal == "completed", state.error
    first, second = state.steps["work"].attempts
    assert first.outcome == "failed"
    assert "Last Will fired" in (first.error or ""), first.error
    assert second.outcome == "completed"
    assert first.agent != second.agent
    # The effect ran once: only the second worker got past the stall.
    assert (tmp_path / "effects").read_text().splitlines() == [second.task_id]
    assert [w.process.returncode for w in launcher.started] == [-signal.SIGKILL, 0]


async def test_a_factory_that_builds_no_agent_fails_the_step_with_the_reason(
        broker: MosquittoProcess) -> None:
    workflow = parse_workflow("""
name: broken
steps:
  work:
    runner: ephemeral
    agent: tests.behaviour.workflows.ephemeral_agents:not_an_agent
    input: "go"
output: "${steps.work.output.text}"
""")
    launcher = SubprocessLauncher(env={"PYTHONPATH": str(ROOT)})
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        state = await WorkflowRunner(client=mqtt, launcher=launcher).run(workflow, {})
    assert state.terminal == "failed"
    error = state.steps["work"].error or ""
    assert "exit status 2" in error and "did not build an agent" in error, error


@dataclass(frozen=True)
class Request:
    """What a supervisor's LaunchRequest offers the launcher (read structurally)."""

    step: Step
    task_id: str


async def test_the_supervisor_hook_starts_a_worker_per_attempt_and_reaps_it(
        broker: MosquittoProcess) -> None:
    deaths: list[tuple[str, str]] = []
    died = asyncio.Event()

    async def on_death(task_id: str, reason: str) -> None:
        deaths.append((task_id, reason))
        died.set()

    processes = SubprocessLauncher()
    hook = EphemeralStepLauncher(launcher=processes,
                                 connection=ConnectionSettings(url=broker.url),
                                 on_death=on_death)
    step = LINE.step("inspect")
    assert hook.handles(step) and not hook.handles(parse_workflow(
        "name: x\nsteps:\n  a:\n    agent: o/u/a\n    input: x\noutput: x\n").step("a"))
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        # An attempt whose worker dies before it is finished is reported at once.
        doomed = Request(step, new_task_id())
        await mqtt.resolve(await hook.launch(doomed), timeout=30)
        processes.started[0].process.kill()
        async with asyncio.timeout(10):
            await died.wait()
        assert deaths[0][0] == doomed.task_id
        assert f"status {-signal.SIGKILL} before its attempt finished" in deaths[0][1]
        await hook.finished(doomed, "failed")
        # The next attempt's worker serves the step, then exits by itself.
        request = Request(step, new_task_id())
        ref = await hook.launch(request)
        client = mqtt.client_for(await mqtt.resolve(ref, timeout=30))
        message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                          task_id=request.task_id, parts=to_parts((("data", {"part": "P-7"}),)))
        states = [TaskState.Name(e.status_update.status.state)
                  async for e in client.send_message(SendMessageRequest(message=message))
                  if e.HasField("status_update")]
        assert states[-1] == "TASK_STATE_COMPLETED"
        await hook.finished(request, "completed")
    assert [w.process.returncode for w in processes.started] == [-signal.SIGKILL, 0]
    assert len(deaths) == 1


async def test_an_ephemeral_agent_asking_for_input_keeps_its_worker_for_the_reply(
        broker: MosquittoProcess) -> None:
    workflow = parse_workflow("""
name: greet
steps:
  hello:
    runner: ephemeral
    agent: tests.behaviour.workflows.ephemeral_agents:greeter
    input: "hi"
    timeout: 60s
output: "${steps.hello.output.text}"
""")
    asked: list[str] = []

    async def caller(step: str, prompt: str) -> Parts:
        asked.append(prompt)
        return (("text", "Ada"),)

    launcher = SubprocessLauncher(env={"PYTHONPATH": str(ROOT)})
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        state = await WorkflowRunner(client=mqtt, launcher=launcher, on_input=caller).run(
            workflow, {})
    assert state.terminal == "completed", state.error
    assert asked == ["What is your name?"]
    assert dict(state.output or ())["text"] == "Hello, Ada!"
    # One worker served both turns, then exited by itself.
    assert [w.process.returncode for w in launcher.started] == [0]


async def test_ephemeral_steps_under_a_supervisor(broker: MosquittoProcess,
                                                  tmp_path: Path) -> None:
    """The same workflow served by an HA supervisor with the launcher hook plugged in: each
    attempt runs in its own worker; without a launcher the step fails, it never falls to
    some other agent."""
    from tests.behaviour.workflows.support import call, supervisor

    processes = SubprocessLauncher()
    hook = EphemeralStepLauncher(launcher=processes,
                                 connection=ConnectionSettings(url=broker.url))
    text = LINE_TEXT
    # A worker is a new Python process: its card may take a while on a busy machine.
    async with supervisor(broker.url, f"sqlite:///{tmp_path / 'runs.db'}", text,
                          launchers=(hook,), resolve_timeout=30.0), \
            A2AMqttClient(requester_config(broker.url, stream_idle_timeout=60.0)) as mqtt:
        client = await mqtt.connect("wf/test/ephemeral-line", timeout=10)
        seen = await call(client, {"part": "P-7"})
    assert seen.state == TaskState.TASK_STATE_COMPLETED, seen.error
    agents = [p["agent"] for p in seen.progress if p["event"] == "step_started"]
    assert len(agents) == 2 and all(a.startswith("workflows/workers/") for a in agents)
    assert len(processes.started) == 2
    async with supervisor(broker.url, f"sqlite:///{tmp_path / 'bare.db'}", text,
                          sup_id="sup-bare"), \
            A2AMqttClient(requester_config(broker.url)) as mqtt:
        client = await mqtt.connect("wf/test/ephemeral-line", timeout=10)
        bare = await call(client, {"part": "P-7"})
    assert bare.state == TaskState.TASK_STATE_FAILED
    assert "no launcher" in bare.error


STALL_TEXT = """
name: stall-served
steps:
  work:
    runner: ephemeral
    agent: tests.behaviour.workflows.ephemeral_agents:stalling
    input: "go"
    timeout: 120s
    retries: {max: 1, backoff: 0}
output: "${steps.work.output.text}"
"""


async def test_a_worker_killed_under_a_supervisor_fails_its_attempt_at_once(
        broker: MosquittoProcess, tmp_path: Path) -> None:
    """kill -9 of the worker mid-step: the supervisor hears of the death from its launcher,
    records the attempt failed (naming the death) and retries long before the 120 s step
    timeout; the effect runs once, in the retry, and the run ends once."""
    from tests.behaviour.workflows.support import Outcome, call, supervisor

    processes = SubprocessLauncher(env={"PYTHONPATH": str(ROOT),
                                        "EPHEMERAL_TEST_DIR": str(tmp_path)})
    hook = EphemeralStepLauncher(launcher=processes,
                                 connection=ConnectionSettings(url=broker.url))
    async with supervisor(broker.url, f"sqlite:///{tmp_path / 'runs.db'}", STALL_TEXT,
                          launchers=(hook,), resolve_timeout=30.0), \
            A2AMqttClient(requester_config(broker.url, stream_idle_timeout=60.0)) as mqtt:
        client = await mqtt.connect("wf/test/stall-served", timeout=10)
        seen = Outcome(str(uuid.uuid4()))
        running = asyncio.create_task(call(client, {}, outcome=seen))
        pid_file = tmp_path / "pid"
        async with asyncio.timeout(30):
            while not pid_file.exists() and not running.done():
                await asyncio.sleep(0.02)  # the first worker is inside its step
        assert not running.done()
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        # Well before the step's 120 s timeout (and the 60 s idle re-send).
        await asyncio.wait_for(running, 45)
    assert seen.state == TaskState.TASK_STATE_COMPLETED, seen.error
    assert seen.terminal_count() == 1
    failed = [p for p in seen.progress if p["event"] == "step_failed"]
    assert len(failed) == 1 and failed[0]["then"] == "waiting", failed
    assert "died" in failed[0]["error"] and f"status {-signal.SIGKILL}" in failed[0]["error"]
    assert failed[0].get("timedOut") is not True
    started = [p for p in seen.progress if p["event"] == "step_started"]
    assert len(started) == 2 and started[0]["agent"] != started[1]["agent"]
    # The effect ran once: only the retry's worker got past the stall.
    assert (tmp_path / "effects").read_text().splitlines() == [started[1]["taskId"]]
    assert [w.process.returncode for w in processes.started] == [-signal.SIGKILL, 0]
