"""Event-driven stages (trigger:) against real Mosquitto, with no supervisor.

A three-stage pipeline (inspect -> judge -> book) of real agents: the judge stage
runs as its own ``a2a-mqtt workflow stages`` process and is killed with SIGKILL
while an event is inside it; restarted, it gets the event again (it was never
acknowledged) and re-sends the same Task.id, so every agent runs each event once
and the sink sees each result once (after dropping repeats by event id). Poison
events end as error events; the events after them flow on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import Part

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import CancellableExecutor, _updater, echo_card
from a2a_mqtt.examples.factory import _input
from a2a_mqtt.transport import ConnectOptions, IncomingMessage, Subscription, connect_transport
from a2a_mqtt.transport.base import BrokerURL, MqttTransport
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.events import StageConfig, StageServer
from a2a_mqtt.workflows.events_codec import (
    FlowEvent,
    encode_event,
    flow_input_topic,
    stage_result_topic,
)
from tests.behaviour.conftest import serve

pytestmark = pytest.mark.asyncio

PIPELINE = """
name: line
inputs: {part: string}
steps:
  inspect:
    agent: {ref: test/flow/inspector}
    trigger: on input
    input: {data: {part: "${inputs.part}"}}
    timeout: 20s
    retries: {max: 1, backoff: 0}
  judge:
    agent: {ref: test/flow/judge}
    trigger: on result of inspect
    input: {data: "${steps.inspect.output.data}"}
    timeout: 30s
  book:
    agent: {ref: test/flow/booker}
    trigger: on result of judge
    input:
      data: {part: "${inputs.part}", verdict: "${steps.judge.output.data.verdict}"}
    timeout: 20s
"""
WORKFLOW = parse_workflow(PIPELINE)


class Stage(CancellableExecutor):
    """Counts every execution (by Task.id); ``gate`` holds one part until released."""

    def __init__(self, key: str, value: str, *, hold: str | None = None,
                 fail: str | None = None) -> None:
        self.key, self.value, self.hold, self.fail = key, value, hold, fail
        self.runs: list[tuple[str, str]] = []
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        part = str(_input(context.message).get("part"))
        self.runs.append((part, context.task_id or ""))
        if part == self.fail:
            await updater.failed(updater.new_agent_message([Part(text=f"cannot {part}")]))
            return
        if part == self.hold:
            self.entered.set()
            await self.gate.wait()
        artifact = Part(media_type="application/json")
        artifact.data.struct_value.update({"part": part, self.key: self.value})
        await updater.add_artifact([artifact], name="out")
        await updater.complete()


class Sink:
    """Collects a topic's events by id (a consumer that drops repeats)."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Event()

    def __call__(self, msg: IncomingMessage) -> None:
        body = json.loads(msg.payload)
        self.events.setdefault(body["id"], body)
        self.changed.set()

    async def wait_for(self, predicate: Any, timeout: float = 40.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@pytest_asyncio.fixture
async def line(broker: MosquittoProcess) -> AsyncIterator[dict[str, Any]]:
    agents = {"inspector": Stage("scratch_mm", "0.1", fail="BAD"),
              "judge": Stage("verdict", "PASS", hold="P-3"),
              "booker": Stage("booked", "yes")}
    async with AsyncExitStack() as stack:
        for name, executor in agents.items():
            await stack.enter_async_context(serve(broker.url, f"test/flow/{name}", executor,
                                                  echo_card()))
        probe = await connect_transport(ConnectOptions(url=BrokerURL.parse(broker.url),
                                                       client_id="flow-test-probe"))
        stack.push_async_callback(probe.disconnect)
        results, errors = Sink(), Sink()
        await probe.subscribe(Subscription(stage_result_topic("line", "book")), results)
        await probe.subscribe(Subscription("$a2a/v1/flow/line/+/error"), errors)
        yield {"agents": agents, "probe": probe, "results": results, "errors": errors,
               "stack": stack}


async def emit(probe: MqttTransport, event_id: str, inputs: dict[str, Any]) -> None:
    event = FlowEvent(id=event_id, origin=event_id, inputs=inputs)
    await probe.publish(flow_input_topic("line"), encode_event(event, "line"), qos=1)


def stage_process(broker: MosquittoProcess, file: Path, store: str) -> subprocess.Popen[bytes]:
    with (file.parent / "judge.log").open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "a2a_mqtt", "workflow", "stages", str(file), "--stage",
             "judge", "--store", store, "--broker", broker.url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)


async def online(probe: MqttTransport, stage: str, process: subprocess.Popen[bytes]) -> None:
    """Wait for the stage's retained status to say online (published after it subscribed)."""
    seen = asyncio.Event()

    def on_status(msg: IncomingMessage) -> None:
        if json.loads(msg.payload)["status"] == "online":
            seen.set()
    topic = f"$a2a/v1/flow/line/{stage}/status"
    await probe.subscribe(Subscription(topic), on_status)
    try:
        async with asyncio.timeout(30):
            while not seen.is_set():
                assert process.poll() is None, "the stage process exited"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(seen.wait(), 0.5)
    finally:
        await probe.unsubscribe(topic)


async def test_a_stage_killed_mid_event_and_restarted_runs_every_event_once(
        broker: MosquittoProcess, line: dict[str, Any], tmp_path: Path) -> None:
    file = tmp_path / "line.yaml"
    file.write_text(PIPELINE)
    probe, results, errors = line["probe"], line["results"], line["errors"]
    judge = line["agents"]["judge"]
    config = StageConfig(workflow=WORKFLOW, store_url=f"sqlite:///{tmp_path}/local.db",
                         connection=ConnectionSettings(url=broker.url),
                         stages=("inspect", "book"))
    await line["stack"].enter_async_context(StageServer(config))
    remote = f"sqlite:///{tmp_path}/judge.db"
    first = stage_process(broker, file, remote)
    second: subprocess.Popen[bytes] | None = None
    try:
        await online(probe, "judge", first)
        parts = [f"P-{n}" for n in range(8)]
        for n, part in enumerate(parts):
            await emit(probe, f"event-{n}", {"part": part})
        async with asyncio.timeout(30):
            await judge.entered.wait()   # P-3 is inside the judge stage's agent call
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        judge.gate.set()
        second = stage_process(broker, file, remote)
        await results.wait_for(lambda: len(results.events) == len(parts))
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(10)
    assert errors.events == {}
    assert sorted(e["inputs"]["part"] for e in results.events.values()) == parts
    assert {e["steps"]["judge"]["output"]["data"]["verdict"]
            for e in results.events.values()} == {"PASS"}
    # Each agent ran each event exactly once, P-3 included: the restarted stage got the
    # unacknowledged event again and re-sent the same Task.id, which the agent followed.
    for name, agent in line["agents"].items():
        assert sorted(part for part, _ in agent.runs) == parts, name
        assert len({task for _, task in agent.runs}) == len(parts), name


async def test_poison_events_become_error_events_and_the_pipeline_flows_on(
        broker: MosquittoProcess, line: dict[str, Any], tmp_path: Path) -> None:
    probe, results, errors = line["probe"], line["results"], line["errors"]
    config = StageConfig(workflow=WORKFLOW, store_url=f"sqlite:///{tmp_path}/all.db",
                         connection=ConnectionSettings(url=broker.url))
    await line["stack"].enter_async_context(StageServer(config))
    await probe.publish(flow_input_topic("line"), b"\xff not json", qos=1)
    await probe.publish(flow_input_topic("line"), b'{"inputs": {"part": "P-1"}}', qos=1)
    await emit(probe, "missing", {})
    await emit(probe, "unknown", {"part": "P-2", "colour": "red"})
    await emit(probe, "bad", {"part": "BAD"})      # the inspector fails it, twice
    await probe.publish(stage_result_topic("line", "inspect"), b"[1, 2]", qos=1)
    file = tmp_path / "line.yaml"
    file.write_text(PIPELINE)
    emitted = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "a2a_mqtt", "workflow", "emit", str(file),
                         "--inputs", '{"part": "P-9"}', "--id", "good", "--broker", broker.url],
        capture_output=True, text=True, timeout=60, check=False)
    assert (emitted.returncode, emitted.stdout.strip()) == (0, "good"), emitted.stderr
    await results.wait_for(lambda: len(results.events) == 1)
    await errors.wait_for(lambda: len(errors.events) == 6)
    reasons = sorted((e["stage"], e["error"]) for e in errors.events.values())
    text = "\n".join(f"{stage}: {error}" for stage, error in reasons)
    assert "inspect: FlowEventError: event is not UTF-8 JSON" in text
    assert "inspect: FlowEventError: event id must be" in text
    assert "inspect: WorkflowInputError:" in text and "'part' is required" in text
    assert "unknown workflow input(s): colour" in text
    assert "inspect: StageFailure: inspect failed after 2 attempts: cannot BAD" in text
    assert "judge: FlowEventError: event is not a JSON object" in text
    (good,) = results.events.values()
    assert good["origin"] == "good"
    assert good["steps"]["book"]["output"]["data"] == {"part": "P-9", "booked": "yes"}
    # The failing part reached the inspector once per attempt, and never went further.
    assert [part for part, _ in line["agents"]["inspector"].runs].count("BAD") == 2
    assert [p for p, _ in line["agents"]["judge"].runs] == ["P-9"]
