"""``a2a-mqtt workflow run --watch | list | show | cancel`` as subprocesses, against an
in-process supervisor and step agent on real Mosquitto and SQLite."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.workflows.leases import Leases
from a2a_mqtt.workflows.store import RunStore
from tests.behaviour.workflows.support import effects, supervisor
from tests.behaviour.workflows.worker import EffectExecutor

pytestmark = pytest.mark.asyncio

FLOW = """
name: review
inputs: {doc: string}
steps:
  draft:
    agent: {ref: test/unit/worker}
    input: {data: {step: draft, value: "${inputs.doc}"}}
  approve:
    hold: "publish ${steps.draft.output.data.value}?"
    needs: draft
  publish:
    agent: {ref: test/unit/worker}
    needs: approve
    input: {data: {step: publish, value: "${steps.approve.output.text}"}}
output:
  text: "published: ${steps.publish.output.data.value}"
"""

SLOW = """
name: slowone
steps:
  wait:
    agent: {ref: test/unit/worker}
    input: {data: {step: wait, mode: never}}
output: {text: never}
"""


async def cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "workflow", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_run_watch_list_show_and_cancel(
        broker: MosquittoProcess, tmp_path: Path, effect_log: Path, run_db: str,
        step_agent: EffectExecutor) -> None:
    db = run_db
    file = tmp_path / "review.yaml"
    file.write_text(FLOW)
    async with supervisor(broker.url, db, FLOW, SLOW):
        code, out, err = await cli("run", "wf/test/review", "--broker", broker.url,
                                   "-i", "doc=memo", "--reply", "yes", "--watch")
        assert code == 0, err
        assert out.strip() == "published: yes"
        assert "working: step draft started (attempt 1" in err
        assert "input_required: publish memo?" in err
        assert "completed" in err
        run_id = err.splitlines()[0].removeprefix("run ").strip()

        code, out, err = await cli("list", "--db", db, "--json")
        assert code == 0, err
        runs = json.loads(out)
        assert [(r["runId"], r["status"], r["owner"]) for r in runs] == [
            (run_id, "completed", "sup-a")]

        code, out, err = await cli("show", str(file), run_id, "--db", db)
        assert code == 0, err
        assert out.splitlines()[0] == f"run {run_id}: completed"
        assert "- [completed] draft: agent ref=test/unit/worker" in out
        assert "  - [completed] approve: hold (caller input)" in out

        slow = asyncio.create_task(cli("run", "wf/test/slowone", "--broker", broker.url,
                                       "--watch"))
        async with RunStore(db) as store:
            for _ in range(600):   # the run exists once its step was dispatched
                started = await Leases(store.engine, owner="", ttl=0).list_runs("slowone")
                if started and started[0].status == "running" and len(
                        await store.events_after(started[0].run_id, 0)) >= 1:
                    break
                await asyncio.sleep(0.05)
        code, out, err = await cli("cancel", "wf/test/slowone", started[0].run_id,
                                   "--broker", broker.url)
        assert code == 0, err
        assert "TASK_STATE_CANCELED" in out
        code, _out, err = await slow
        assert code == 1 and "canceled" in err
    assert effects(effect_log) == {"draft": 1, "publish": 1}


EPHEMERAL = """
name: eph-cli
inputs: {part: string}
steps:
  inspect:
    runner: ephemeral
    agent: a2a_mqtt.examples.workers:inspection
    input: {data: {part: "${inputs.part}"}}
    timeout: 60s
output:
  data: "${steps.inspect.output.data}"
"""


async def test_serve_runs_ephemeral_steps_in_workers_it_starts(
        broker: MosquittoProcess, tmp_path: Path) -> None:
    """`workflow serve` plugs the subprocess worker launcher in by itself for a workflow with
    `runner: ephemeral` steps (``--ephemeral auto``): the step runs in a worker."""
    import os
    import signal

    from a2a.types.a2a_pb2 import TaskState

    from a2a_mqtt.client import A2AMqttClient
    from tests.behaviour.conftest import requester_config
    from tests.behaviour.workflows.support import call

    flow = tmp_path / "eph.yaml"
    flow.write_text(EPHEMERAL)
    err = tmp_path / "serve.err"
    with err.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "a2a_mqtt", "workflow", "serve", str(flow),
            "--db", f"sqlite:///{tmp_path / 'runs.db'}", "--broker", broker.url,
            "--org", "wf", "--unit", "test", env={**os.environ, "A2A_MQTT_LOOP": "asyncio"},
            stdout=asyncio.subprocess.DEVNULL, stderr=sink)
    try:
        async with A2AMqttClient(requester_config(broker.url,
                                                  stream_idle_timeout=60.0)) as mqtt:
            client = await mqtt.connect("wf/test/eph-cli", timeout=30)
            seen = await asyncio.wait_for(call(client, {"part": "P-9"}), 90)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    assert seen.state == TaskState.TASK_STATE_COMPLETED, (seen.error, err.read_text())
    agents = [p["agent"] for p in seen.progress if p["event"] == "step_started"]
    assert len(agents) == 1 and agents[0].startswith("workflows/workers/inspect-"), agents
    assert "with ephemeral workers" in err.read_text()
