"""The caller's view of a run (pure): stream items per event, the task, the inputs decoder."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from a2a.types.a2a_pb2 import Message, Part, Role, TaskState
from google.protobuf.json_format import MessageToDict, ParseDict
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.workflows import WorkflowInputError
from a2a_mqtt.workflows.fold import apply
from a2a_mqtt.workflows.progress import META_KEY, ends_stream, plain, run_task, stream_items
from a2a_mqtt.workflows.state import AttemptFailed, start_run
from a2a_mqtt.workflows.wfagent import inputs_of
from tests.unit.workflows.sim import Sim, ok, wf

FLOW = """\
    name: flow
    inputs: {x: integer}
    steps:
      a:
        agent: {ref: o/u/a}
        input: {data: {v: "${inputs.x}"}}
        retries: {max: 1, backoff: 1s}
      b:
        agent: {ref: o/u/b}
        needs: a
        input: go
    output:
      data: {v: "${steps.a.output.data.v}"}
"""


def _data(item: Any) -> dict[str, Any]:
    parts = item.status_update.status.message.parts
    return plain(MessageToDict(parts[1].data))


def _all_items(sim: Sim) -> list[Any]:
    # Each event projected with the state right after it, as a supervisor streams it.
    state = start_run("run-1", sim.state.workflow, sim.state.inputs, at=0.0)
    items = list(stream_items(state, 0))
    for seq, event in enumerate(sim.state.events[1:], start=1):
        state = apply(state, event)
        items.extend(stream_items(state, seq))
    return items


def test_a_completed_run_streams_steps_then_the_artifact_then_completed() -> None:
    failed_once = iter([True])

    def flaky(action: Any, task_id: str) -> Any:
        if next(failed_once, False):
            return AttemptFailed(action.step, task_id, "boom", at=0)
        return ok({"v": 3})(action, task_id)

    sim = Sim(wf(FLOW), {"x": 3}, agents={"a": flaky, "b": ok({"w": 1})})
    assert sim.settle().terminal == "completed"
    items = _all_items(sim)
    assert items[0].task.status.state == TaskState.TASK_STATE_WORKING
    events = [_data(i)["event"] for i in items[1:-2]]
    assert events == ["step_started", "step_failed", "step_started", "step_output",
                      "step_started", "step_output"]
    failed = _data(items[2])
    assert failed["then"] == "waiting" and failed["error"] == "boom"
    assert items[-2].artifact_update.artifact.artifact_id == "output"
    assert plain(MessageToDict(items[-2].artifact_update.artifact.parts[0].data)) == {"v": 3}
    assert items[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert [ends_stream(i) for i in items].count(True) == 1 and ends_stream(items[-1])
    seqs = [MessageToDict(i.status_update.metadata)[META_KEY]["seq"]
            for i in items if i.HasField("status_update")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_the_task_shows_the_prompt_while_waiting_and_the_error_when_failed() -> None:
    held = wf("""\
        name: held
        steps:
          ask:
            hold: "ok?"
        output: {text: "${steps.ask.output.text}"}
    """)
    sim = Sim(held)
    sim.settle()
    task = run_task(sim.state)
    assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert task.status.message.parts[0].text == "ok?"
    items = _all_items(sim)
    assert ends_stream(items[-1]) and _data(items[-1])["event"] == "input_required"

    failing = Sim(wf(FLOW), {"x": 1}, agents={
        "a": lambda action, task_id: AttemptFailed(action.step, task_id, "no", at=0)})
    assert failing.settle().terminal == "failed"
    task = run_task(failing.state)
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert "step 'a' failed: no" in task.status.message.parts[0].text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_inputs_round_trip_through_a_data_part(inputs: dict[str, Any]) -> None:
    part = Part(media_type="application/json")
    ParseDict(inputs, part.data)
    message = Message(message_id="m", role=Role.ROLE_USER, parts=[part])
    decoded = inputs_of(message)
    assert decoded == inputs
    assert all(not (isinstance(v, float) and v.is_integer()) for v in decoded.values())


@given(st.text(max_size=40))
def test_text_inputs_are_a_json_object_or_a_clear_error(text: str) -> None:
    message = Message(message_id="m", role=Role.ROLE_USER, parts=[Part(text=text)])
    stripped = text.strip()
    try:
        expected = json.loads(stripped) if stripped else {}
    except ValueError:
        expected = None
    if isinstance(expected, dict):
        assert json.dumps(inputs_of(message)) == json.dumps(expected)
    else:
        with pytest.raises(WorkflowInputError, match=r"JSON object|data part"):
            inputs_of(message)


def test_non_object_data_is_refused() -> None:
    part = Part(media_type="application/json")
    ParseDict([1, 2], part.data)
    with pytest.raises(WorkflowInputError, match="JSON object"):
        inputs_of(Message(message_id="m", role=Role.ROLE_USER, parts=[part]))


@given(json_values)
def test_plain_turns_only_integral_floats_into_ints(value: Any) -> None:
    out = plain(value)
    if isinstance(value, float):
        assert out == value and (isinstance(out, int) == (math.isfinite(value)
                                                          and value.is_integer()))
