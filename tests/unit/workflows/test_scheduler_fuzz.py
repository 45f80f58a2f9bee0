"""Under any mix of agent outcomes, a run reaches exactly one terminal state.

Agents answer each dispatch by a drawn script (complete, fail, never answer,
ask for input, a late duplicate of an earlier task), and the caller sometimes
answers holds or cancels. Whatever happens: the run ends once, no step has two
completed attempts, and every event in the log changed the state.
"""

from __future__ import annotations

from importlib import resources

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.actions import Dispatch
from a2a_mqtt.workflows.fold import apply
from a2a_mqtt.workflows.state import (
    AttemptCompleted,
    AttemptFailed,
    AttemptInputRequired,
    CancelRequested,
    Event,
    InputProvided,
    RunCancelled,
    RunCompleted,
    RunFailed,
    StepOutput,
)
from tests.unit.workflows.sim import Sim

WORKFLOW = parse_workflow(
    resources.files("a2a_mqtt.examples").joinpath("production_line.yaml").read_text())
DECISIONS = ["PASS", "REWORK", "REJECT"]


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_run_ends_exactly_once(data: st.DataObject) -> None:
    sent: list[tuple[str, str]] = []

    def agent(action: Dispatch, task_id: str) -> Event | None:
        sent.append((action.step, task_id))
        what = data.draw(st.sampled_from(["ok", "ok", "fail", "silent", "ask"]))
        if what == "ok":
            decision = data.draw(st.sampled_from(DECISIONS))
            return AttemptCompleted(action.step, task_id, StepOutput(
                data={"part": "P", "decision": decision, "reason": "r", "dent_mm": 1}), at=0)
        if what == "fail":
            return AttemptFailed(action.step, task_id, "agent error", at=0)
        if what == "ask":
            return AttemptInputRequired(action.step, task_id, "more?", at=0)
        return None  # never answers: the step's timeout decides

    agents = {step.name: agent for step in WORKFLOW.steps}
    sim = Sim(WORKFLOW, {"part": "P-1"}, agents)
    for _ in range(60):
        sim.settle()
        if sim.state.terminal is not None:
            break
        choice = data.draw(st.sampled_from(["answer", "answer", "cancel", "late"]))
        waiting = sim.state.waiting_for_input()
        if choice == "cancel":
            sim.record(CancelRequested("caller", at=sim.now))
        elif choice == "late" and sent:
            step, task_id = data.draw(st.sampled_from(sent))
            sim.record(AttemptCompleted(step, task_id, StepOutput(text="dup"), at=sim.now))
        elif waiting:
            sim.record(InputProvided(waiting[0], (("text", "approve"),), at=sim.now))
    sim.settle()
    state = sim.state
    assert state.terminal in ("completed", "failed", "cancelled")
    terminal_events = [e for e in state.events
                       if isinstance(e, RunCompleted | RunFailed | RunCancelled)]
    assert len(terminal_events) == 1
    for step_state in state.steps.values():
        assert sum(a.outcome == "completed" for a in step_state.attempts) <= 1
        # A finished run leaves nothing running at an agent.
        assert all(a.outcome != "in_flight" for a in step_state.attempts)
    # Replaying the log from the first event gives the same end state.
    replay = Sim(WORKFLOW, {"part": "P-1"}).state
    for event in state.events[1:]:
        before = replay
        replay = apply(replay, event)
        assert replay is not before  # the log holds only events that changed the state
    assert replay == state
