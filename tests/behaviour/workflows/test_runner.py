"""The in-process runner against real Mosquitto and the example production-line agents.

Two inspection agents serve one pool; quality control and supply chain are found by
skill and tag. Every event is written to a real SQLite file, and the run read
back from it is the run that finished.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.factory import (
    InspectionExecutor,
    QualityControlExecutor,
    SupplyChainExecutor,
    decide,
    inspection_card,
    quality_card,
    supply_card,
)
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.runner import WorkflowRunner
from a2a_mqtt.workflows.state import Parts
from a2a_mqtt.workflows.store import RunStore
from tests.behaviour.conftest import requester_config, serve

pytestmark = pytest.mark.asyncio

WORKFLOW = parse_workflow(
    resources.files("a2a_mqtt.examples").joinpath("production_line.yaml").read_text())


def part_with(decision: str) -> str:
    """A part id the deterministic inspector measures into ``decision``."""
    for n in range(10_000):
        part = f"P-{n}"
        digest = hashlib.sha256(part.encode()).digest()
        report = {"scratch_mm": round(digest[0] / 255 * 0.8, 2),
                  "dent_mm": round(digest[1] / 255 * 1.5, 2),
                  "color_delta_e": round(digest[2] / 255 * 4.0, 2)}
        if decide(report)[0] == decision:
            return part
    raise AssertionError(decision)


class Counting(InspectionExecutor):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.calls.append(context.task_id or "")
        await super().execute(context, event_queue)


@pytest_asyncio.fixture
async def line(broker: MosquittoProcess, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    calls: list[str] = []
    shared = f"sqlite:///{tmp_path / 'inspection-tasks.db'}"
    async with AsyncExitStack() as stack:
        for name in ("inspection-a", "inspection-b"):
            await stack.enter_async_context(serve(
                broker.url, f"factory/line1/{name}", Counting(calls), inspection_card(),
                pool="inspection", task_store_url=shared))
        await stack.enter_async_context(serve(broker.url, "factory/line1/quality-control",
                                              QualityControlExecutor(), quality_card()))
        yield {"calls": calls, "stack": stack}


async def test_a_pass_runs_end_to_end_and_the_log_rebuilds_the_run(
        broker: MosquittoProcess, line: dict[str, Any], tmp_path: Path) -> None:
    await line["stack"].enter_async_context(serve(
        broker.url, "factory/line1/supply-chain", SupplyChainExecutor(), supply_card()))
    part = part_with("PASS")
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    async with RunStore(url) as store, A2AMqttClient(requester_config(broker.url)) as mqtt:
        runner = WorkflowRunner(client=mqtt, store=store)
        state = await runner.run(WORKFLOW, {"part": part}, run_id="run-pass")
        assert state.terminal == "completed", state.error
        text, data = dict(state.output or ())["text"], dict(state.output or ())["data"]
        assert text.startswith(f"{part}: PASS")
        assert data["disposition"]["decision"] == "PASS"
        assert data["supply"]["action"] == "added to finished-goods stock"
        assert data["rework_note"] == ""
        assert [r["part"] for r in data["inspection"]] == [part, part]
        assert state.steps["confirm_rework"].status == "skipped"
        assert state.steps["supply_manual"].status == "dormant"
        # One inspection per step, each with its own requester-generated Task.id.
        tasks = {state.steps[s].attempts[0].task_id for s in ("inspect_top", "inspect_side")}
        assert sorted(line["calls"]) == sorted(tasks)
        assert {state.steps[s].attempts[0].agent for s in ("quality", "supply")} == \
            {"factory/line1/quality-control", "factory/line1/supply-chain"}
        assert await store.load("run-pass", WORKFLOW) == state


async def test_rework_holds_for_the_caller_and_a_missing_agent_falls_back(
        broker: MosquittoProcess, line: dict[str, Any]) -> None:
    asked: list[tuple[str, str]] = []

    async def operator(step: str, prompt: str) -> Parts:
        asked.append((step, prompt))
        return (("text", "approve" if step == "confirm_rework" else "booked by hand"),)

    part = part_with("REWORK")
    # No supply-chain agent is running: its step fails, and the manual hold stands in.
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        runner = WorkflowRunner(client=mqtt, on_input=operator, resolve_timeout=0.5)
        state = await runner.run(WORKFLOW, {"part": part})
    assert state.terminal == "completed", state.error
    assert [step for step, _ in asked] == ["confirm_rework", "supply_manual"]
    assert f"Part {part} on line1 needs rework" in asked[0][1]
    data = dict(state.output or ())["data"]
    assert data["rework_note"] == "approve"
    assert state.steps["supply"].status == "fallen_back"
    assert "no agent for tag=supply-chain" in (state.steps["supply"].error or "")
    assert len(line["calls"]) == 2


async def test_a_missing_input_is_refused_before_anything_is_sent(
        broker: MosquittoProcess, line: dict[str, Any]) -> None:
    from a2a_mqtt.workflows import WorkflowInputError

    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        with pytest.raises(WorkflowInputError, match="'part' is required"):
            await WorkflowRunner(client=mqtt).run(WORKFLOW, {})
    assert line["calls"] == []
