"""The demo's production line as a workflow (src/a2a_mqtt/examples/production_line.yaml).

Two inspection agents serve one pool (they share a task store in a temporary
directory), and :class:`WorkflowRunner` runs the workflow in this process for
each part: both inspections at once (fan-out), quality control on both reports
(fan-in), a human hold when the decision is REWORK (the demo's operator approves),
then supply chain. Each step's outcome is printed from the run's state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples import EXAMPLES
from a2a_mqtt.examples.factory import InspectionExecutor
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.runner import WorkflowRunner
from a2a_mqtt.workflows.state import Parts, RunState
from a2a_mqtt.workflows.validate import topological_order

__all__ = ["SECOND_INSPECTOR", "CountingInspector", "pool_configs", "pool_spread", "run_line"]

Printer = Callable[[str], None]

#: The second member of the inspection pool (the first is the example's own agent).
SECOND_INSPECTOR = "factory/line1/inspection-2"


class CountingInspector(InspectionExecutor):
    """The example inspector, counting the parts it imaged (to show the pool's spread)."""

    def __init__(self) -> None:
        self.served = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.served += 1
        await super().execute(context, event_queue)


def pool_configs(url: str, state_dir: Path) -> list[AgentConfig]:
    """The two inspection agents of pool ``factory/line1/pool/inspection``."""
    example = EXAMPLES["inspection"]
    store = f"sqlite:///{state_dir / 'inspection-pool.db'}"
    # "claim" skips the start-up probe for shared subscriptions (Mosquitto 2.0.11 has none
    # for $ topics, so the probe would only cost two seconds to find that out).
    return [AgentConfig(ref=AgentRef.parse(ref), card=example.card(),
                        executor=CountingInspector(),
                        connection=ConnectionSettings(url=url), session_expiry=0,
                        pool="inspection", task_store_url=store, pool_dispatch="claim",
                        watch_broker_drops=False)
            for ref in (example.default_ref, SECOND_INSPECTOR)]


def _show(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k != "part", k))
        return " ".join(f"{k}={_show(value[k])}" for k in keys)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) and " " not in value else json.dumps(value)


async def run_line(mqtt: A2AMqttClient, parts: tuple[str, ...], out: Printer) -> list[RunState]:
    """Run the production-line workflow once per part; print each step's outcome."""
    text = resources.files("a2a_mqtt.examples").joinpath("production_line.yaml").read_text()
    workflow = parse_workflow(text)
    order = topological_order(workflow)
    out(f"workflow  {workflow.name}: {' -> '.join(order)} (production_line.yaml)")

    asked: dict[str, str] = {}

    async def operator(step: str, prompt: str) -> Parts:
        asked[step] = prompt
        return (("text", "approve"),)

    runner = WorkflowRunner(client=mqtt, on_input=operator)
    states = []
    for part in parts:
        out(f"part {part}")
        asked.clear()
        state = await runner.run(workflow, {"part": part})
        states.append(state)
        for name in order:
            step = state.steps[name]
            if step.status == "dormant":
                continue  # a fallback that was not needed
            if name in asked:
                out(f"    {name:<14} {'held':<10} asks the operator: {asked[name]}")
            agent = step.attempts[-1].agent if step.attempts else "operator"
            output = step.output
            shown = _show(output.data) if output is not None and output.data is not None \
                else (output.text if output is not None else "")
            out(f"    {name:<14} {step.status:<10} {agent:<30} {shown}".rstrip())
        result = dict(state.output or ()).get("text", state.error or "")
        out(f"    {'result':<14} {state.terminal:<10} {result}")
    return states


def pool_spread(configs: list[AgentConfig]) -> str:
    """``inspection 5, inspection-2 3``: how many parts each pool member imaged."""
    return ", ".join(f"{config.ref.name} {config.executor.served}" for config in configs
                     if isinstance(config.executor, CountingInspector))
