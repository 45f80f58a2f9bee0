"""The scheduler state machine: fan-out/in, retries, timeouts, on_failure, holds, cancel."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest

from a2a_mqtt.workflows import WorkflowInputError, parse_workflow
from a2a_mqtt.workflows.actions import (
    CancelAttempt,
    CompleteRun,
    Dispatch,
    Expire,
    FinishCancel,
    Forward,
    Hold,
)
from a2a_mqtt.workflows.fold import apply
from a2a_mqtt.workflows.scheduler import in_flight, next_actions
from a2a_mqtt.workflows.state import (
    AttemptCompleted,
    AttemptFailed,
    AttemptInputRequired,
    CancelRequested,
    InputProvided,
    RunState,
    StepOutput,
    start_run,
)
from tests.unit.workflows.sim import Sim, ok, wf

DIAMOND = """\
    name: diamond
    inputs:
      part: string
    steps:
      left:
        agent: o/u/left
        input: {data: {part: "${inputs.part}", side: left}}
      right:
        agent: {tag: inspection}
        input: {data: {part: "${inputs.part}", side: right}}
      join:
        agent: {skill: judge}
        needs: [left, right]
        input:
          parts:
            - data: "${steps.left.output.data}"
            - data: {right_dent: "${steps.right.output.data.dent}"}
            - text: "dents ${steps.left.output.data.dent}/${steps.right.output.data.dent}"
    output:
      parts:
        - text: "${inputs.part}: ${steps.join.output.data.decision}"
        - data: "${steps.join.output.data}"
    """


def test_fan_out_dispatches_both_roots_and_fan_in_waits_for_both() -> None:
    sim = Sim(wf(DIAMOND), {"part": "P-7"})
    first = sim.step()
    assert [(a.step, a.attempt) for a in first if isinstance(a, Dispatch)] == \
        [("left", 1), ("right", 1)]
    assert first[0].parts == (("data", {"part": "P-7", "side": "left"}),)  # type: ignore[union-attr]
    assert sim.step() == []  # nobody answered: nothing more to do, no busy loop
    left, right = (task for _, task, _ in sim.sent)
    sim.record(AttemptCompleted("left", left, StepOutput(data={"dent": 0.4}), at=1))
    assert sim.step() == []  # join still waits for right
    sim.record(AttemptCompleted("right", right, StepOutput(data={"dent": 1.3}), at=2))
    join = sim.step()
    assert len(join) == 1 and isinstance(join[0], Dispatch) and join[0].step == "join"
    assert join[0].parts == (("data", {"dent": 0.4}), ("data", {"right_dent": 1.3}),
                             ("text", "dents 0.4/1.3"))
    sim.record(AttemptCompleted("join", sim.sent[-1][1],
                                StepOutput(data={"decision": "REJECT"}), at=3))
    (done,) = sim.step()
    assert done == CompleteRun((("text", "P-7: REJECT"), ("data", {"decision": "REJECT"})))
    assert sim.state.terminal == "completed" and sim.state.output == done.parts


def test_retries_wait_out_their_backoff_then_fail_the_run() -> None:
    flaky = wf("""\
        name: w
        steps:
          s:
            agent: o/u/s
            input: go
            retries: {max: 2, backoff: 1s, factor: 3}
        output: "${steps.s.output.text}"
        """)
    sim = Sim(flaky)
    sim.step()
    sim.record(AttemptFailed("s", "task-1", "boom", at=10))
    assert sim.state.steps["s"].status == "waiting"
    assert sim.state.steps["s"].ready_at == 11
    assert next_actions(sim.state, 10.99) == []
    (retry,) = next_actions(sim.state, 11)
    assert isinstance(retry, Dispatch) and retry.attempt == 2
    sim.now = 11
    sim.step()
    sim.record(AttemptFailed("s", "task-2", "boom", at=12))
    assert sim.state.steps["s"].ready_at == 15  # 1s * 3
    sim.now = 15
    sim.step()
    sim.record(AttemptFailed("s", "task-3", "still boom", at=16))
    sim.settle()
    assert sim.state.terminal == "failed"
    assert "step 's' failed: still boom" in (sim.state.error or "")
    attempts = sim.state.steps["s"].attempts
    assert [a.task_id for a in attempts] == ["task-1", "task-2", "task-3"]
    assert {a.outcome for a in attempts} == {"failed"}


def test_a_timeout_expires_the_attempt_and_a_late_answer_is_ignored() -> None:
    slow = wf("""\
        name: w
        steps:
          s:
            agent: o/u/s
            input: go
            timeout: 5
            retries: {max: 1, backoff: 0}
        output: "${steps.s.output.text}"
        """)
    sim = Sim(slow)
    sim.step()
    assert next_actions(sim.state, 4.99) == []
    sim.now = 5
    assert sim.step() == [Expire("s", "task-1", "agent-for-s")]
    assert sim.cancelled == ["task-1"]
    assert sim.state.steps["s"].attempts[0].outcome == "timed_out"
    sim.step()  # the retry goes out as a new attempt with a new Task.id
    before = sim.state
    late = apply(before, AttemptCompleted("s", "task-1", StepOutput(text="late"), at=6))
    assert late is before  # stale: neither applied nor logged
    sim.record(AttemptCompleted("s", "task-2", StepOutput(text="on time"), at=7))
    assert sim.settle().output == (("text", "on time"),)


def test_on_failure_skip_lets_dependents_run_with_a_null_output() -> None:
    sim = Sim(wf("""\
        name: w
        steps:
          optional:
            agent: o/u/a
            input: go
            on_failure: skip
          after:
            agent: o/u/b
            needs: [optional]
            input: {data: {got: "${steps.optional.output.data.x}",
                           status: "${steps.optional.status}"}}
        output: done
        """), agents={"after": ok(text="fine")})
    sim.step()
    sim.record(AttemptFailed("optional", "task-1", "nope", at=1))
    assert sim.state.steps["optional"].status == "skipped"
    sim.settle()
    assert sim.sent[-1][2] == (("data", {"got": None, "status": "skipped"}),)
    assert sim.state.terminal == "completed"


FALLBACK = """\
    name: w
    steps:
      main:
        agent: o/u/main
        input: go
        on_failure: {fallback: backup}
      backup:
        agent: o/u/backup
        input: plan b
      after:
        agent: o/u/after
        needs: [main]
        input: "${steps.main.output.text}"
    output: "${steps.after.output.text}"
    """


def test_a_fallback_runs_only_on_failure_and_stands_in_for_its_primary() -> None:
    sim = Sim(wf(FALLBACK), agents={"backup": ok(text="from backup"),
                                    "after": ok(text="after done")})
    assert sim.state.steps["backup"].status == "dormant"
    first = sim.step()
    assert [a.step for a in first] == ["main"]  # the dormant fallback is not started
    sim.record(AttemptFailed("main", "task-1", "down", at=1))
    sim.settle()
    assert sim.state.steps["main"].status == "fallen_back"
    assert ("after", "task-3", (("text", "from backup"),)) in sim.sent
    assert sim.state.terminal == "completed"


def test_a_fallback_that_is_never_needed_stays_dormant() -> None:
    sim = Sim(wf(FALLBACK), agents={"main": ok(text="main ok"), "after": ok(text="x")})
    assert sim.settle().terminal == "completed"
    assert sim.state.steps["backup"].status == "dormant"
    assert [s for s, _, _ in sim.sent] == ["main", "after"]


def test_a_failing_fallback_fails_the_run_naming_the_primary() -> None:
    def fail(action: Dispatch, task_id: str) -> AttemptFailed:
        return AttemptFailed(action.step, task_id, f"{action.step} down", at=0)
    sim = Sim(wf(FALLBACK), agents={"main": fail, "backup": fail})
    sim.settle()
    assert sim.state.terminal == "failed"
    assert sim.state.error == "step 'main' failed: backup down"


def test_a_failure_cancels_the_other_running_branches_before_failing() -> None:
    sim = Sim(wf(DIAMOND), {"part": "P"})
    sim.step()
    sim.record(AttemptFailed("left", "task-1", "crashed", at=1))
    actions = sim.step()
    assert actions == [CancelAttempt("right", "task-2", "agent-for-right")]
    assert sim.settle().terminal == "failed"
    assert sim.state.steps["right"].attempts[-1].outcome == "cancelled"


def test_agent_input_required_holds_the_run_and_forwards_on_the_same_task() -> None:
    sim = Sim(wf("""\
        name: w
        steps:
          ask:
            agent: o/u/ask
            input: go
            timeout: 10
        output: "${steps.ask.output.text}"
        """))
    sim.step()
    sim.record(AttemptInputRequired("ask", "task-1", "which colour?", at=2))
    assert sim.state.status == "input_required"
    assert sim.state.waiting_for_input() == ["ask"]
    assert next_actions(sim.state, 1000) == []  # the deadline pauses while a human thinks
    sim.now = 1000
    sim.record(InputProvided("ask", (("text", "blue"),), at=1000))
    forward = sim.step()
    assert forward == [Forward("ask", "task-1", "agent-for-ask", (("text", "blue"),))]
    assert sim.state.status == "running"
    assert sim.state.steps["ask"].deadline == 1010
    sim.record(AttemptCompleted("ask", "task-1", StepOutput(text="painted blue"), at=1001))
    assert sim.settle().output == (("text", "painted blue"),)
    assert len(sim.state.steps["ask"].attempts) == 1


def test_a_hold_step_asks_the_caller_and_its_reply_is_the_output() -> None:
    sim = Sim(wf("""\
        name: w
        inputs: {part: string}
        steps:
          confirm:
            hold: "Rework ${inputs.part}?"
        output: "answer: ${steps.confirm.output.text}"
        """), {"part": "P-2"})
    assert sim.step() == [Hold("confirm", "Rework P-2?")]
    assert sim.state.status == "input_required"
    assert sim.step() == []
    sim.record(InputProvided("confirm", (("text", "approve"),), at=3))
    assert sim.settle().output == (("text", "answer: approve"),)


def test_a_hold_with_a_timeout_fails_under_its_policy() -> None:
    sim = Sim(wf("""\
        name: w
        steps:
          confirm:
            hold: "ok?"
            timeout: 60
            on_failure: skip
        output: "${steps.confirm.status}"
        """))
    sim.settle()
    assert sim.state.terminal == "completed"
    assert sim.state.output == (("text", "skipped"),)
    assert sim.now == 60


def test_cancel_cancels_every_running_step_then_finishes() -> None:
    sim = Sim(wf(DIAMOND), {"part": "P"})
    sim.step()
    sim.record(CancelRequested("caller cancelled", at=1))
    assert sim.state.status == "cancelling"
    actions = sim.step()
    assert actions == [CancelAttempt("left", "task-1", "agent-for-left"),
                       CancelAttempt("right", "task-2", "agent-for-right")]
    assert sim.step() == [FinishCancel()]
    assert sim.state.terminal == "cancelled"
    frozen = sim.state
    assert apply(frozen, AttemptCompleted("left", "task-1", StepOutput(), at=9)) is frozen
    assert next_actions(frozen, 99) == []


def test_a_missing_value_in_a_step_template_fails_the_step_not_hangs() -> None:
    sim = Sim(wf("""\
        name: w
        steps:
          a:
            agent: o/u/a
            input: go
          b:
            agent: o/u/b
            needs: [a]
            input: "${steps.a.output.data.missing}"
        output: done
        """), agents={"a": ok(data={"present": 1})})
    sim.settle()
    assert sim.state.terminal == "failed"
    assert "missing" in (sim.state.error or "")


def test_conditions_skip_or_run_the_hold_in_the_production_line() -> None:
    text = resources.files("a2a_mqtt.examples").joinpath("production_line.yaml").read_text()
    workflow = parse_workflow(text)
    report = {"part": "P-1", "dent_mm": 0.2, "scratch_mm": 0.7}
    for decision, held in (("PASS", False), ("REWORK", True)):
        agents = {"inspect_top": ok(data=report), "inspect_side": ok(data=report),
                  "quality": ok(data={"part": "P-1", "decision": decision, "reason": "r"}),
                  "supply": ok(data={"action": "booked"})}
        sim = Sim(workflow, {"part": "P-1"}, agents)
        sim.settle()
        if held:
            assert sim.state.status == "input_required"
            assert sim.state.waiting_for_input() == ["confirm_rework"]
            assert "Part P-1 on line1 needs rework (r)" in (sim.state.steps[
                "confirm_rework"].prompt or "")
            sim.record(InputProvided("confirm_rework", (("text", "approve"),), at=sim.now))
            sim.settle()
        assert sim.state.terminal == "completed", decision
        data = dict(sim.state.output or ())["data"]
        assert data["rework_note"] == ("approve" if held else "")
        assert data["supply"] == {"action": "booked"}
        assert data["inspection"] == [report, report]


def test_replaying_the_event_log_rebuilds_the_same_state() -> None:
    sim = Sim(wf(FALLBACK), agents={"backup": ok(text="b"), "after": ok(text="a")})
    sim.step()
    sim.record(AttemptFailed("main", "task-1", "down", at=1))
    final = sim.settle()
    replayed: RunState = start_run("run-1", final.workflow, {}, at=0.0)
    for event in final.events[1:]:
        replayed = apply(replayed, event)
    assert replayed == final


def test_dispatched_attempts_are_in_flight_for_recovery() -> None:
    sim = Sim(wf(DIAMOND), {"part": "P"})
    sim.step()
    assert [(step, record.task_id, record.agent) for step, record in in_flight(sim.state)] == \
        [("left", "task-1", "agent-for-left"), ("right", "task-2", "agent-for-right")]
    # After a crash the same Dispatch is not re-decided: the recorded attempt is re-sent.
    assert next_actions(sim.state, 0) == []


@pytest.mark.parametrize(("given", "message"), [
    ({}, "'part' is required and missing"),
    ({"part": 3}, "must be of type string"),
    ({"part": "P", "colour": "red"}, "unknown workflow input(s): colour"),
])
def test_bad_inputs_are_refused_before_the_run_exists(given: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(WorkflowInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        start_run("r", wf(DIAMOND), given, at=0)


def test_defaults_fill_optional_inputs() -> None:
    state = start_run("r", wf("""\
        name: w
        inputs:
          n: {type: integer, default: 3}
        steps: {a: {hold: "${inputs.n}"}}
        output: x
        """), {}, at=0)
    assert state.inputs == {"n": 3}
    assert dataclasses.asdict(state.steps["a"])["status"] == "pending"
