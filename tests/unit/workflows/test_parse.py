"""Workflow YAML: the example validates; every refusal carries the right line and reason."""

from __future__ import annotations

import textwrap
from importlib import resources

import pytest

from a2a_mqtt.workflows import (
    AgentSelector,
    PartTemplate,
    Step,
    Workflow,
    WorkflowError,
    describe,
    parse_template,
    parse_workflow,
    validate_workflow,
)

BASE = """\
name: wf
inputs:
  part: string
steps:
  a:
    agent: org/unit/a
    input: {text: "${inputs.part}"}
  b:
    agent: {skill: judge}
    needs: [a]
    input: {data: "${steps.a.output.data}"}
output: "${steps.b.output.text}"
"""


def refused(text: str) -> WorkflowError:
    with pytest.raises(WorkflowError) as info:
        parse_workflow(textwrap.dedent(text))
    return info.value


def test_the_production_line_example_validates() -> None:
    text = resources.files("a2a_mqtt.examples").joinpath("production_line.yaml").read_text()
    workflow = parse_workflow(text)
    assert [s.name for s in workflow.steps] == ["inspect_top", "inspect_side", "quality",
                                                "confirm_rework", "supply", "supply_manual"]
    quality = workflow.step("quality")
    assert quality.needs == ("inspect_top", "inspect_side")
    assert quality.agent == AgentSelector(skill="disposition")
    assert workflow.step("inspect_top").retries.max == 2
    assert workflow.step("inspect_top").retries.backoff == 0.5
    assert workflow.step("inspect_top").timeout == 30.0
    assert workflow.step("confirm_rework").when is not None
    assert workflow.fallbacks == {"supply_manual": "supply"}
    graph = describe(workflow)
    assert "quality: agent skill=disposition (after inspect_top, inspect_side" in graph


def test_a_minimal_workflow_parses_with_defaults() -> None:
    workflow = parse_workflow(BASE)
    a = workflow.step("a")
    assert a.agent == AgentSelector(ref="org/unit/a")
    assert a.timeout == 120.0 and a.retries.max == 0 and a.on_failure.action == "fail"
    assert workflow.inputs[0].name == "part" and workflow.inputs[0].required
    assert workflow.output[0].kind == "text"


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("name: wf\nsteps: {}\noutput: x\n", 2, "at least one step"),
    ("steps: {a: {hold: x}}\noutput: x\n", 1, "missing required field 'name'"),
    (BASE.replace("needs: [a]", "needs: [zz]"), 10, "unknown step 'zz' in needs"),
    (BASE.replace("${inputs.part}", "${inputs.colour}"), 7, "unknown input 'colour'"),
    (BASE.replace("  part: string\n", "  part: str\n"), 3, "unknown input type 'str'"),
    (BASE.replace("    needs: [a]\n", ""), 10, "'a' is not in needs"),
    (BASE.replace("timeout", "x").replace("    needs: [a]\n", "    needs: [a]\n    timeout: -3\n"),
     11, "duration must be positive"),
    (BASE.replace("    needs: [a]\n", "    needs: [a]\n    timeout: soon\n"), 11,
     "bad duration 'soon'"),
    (BASE.replace("    needs: [a]\n", "    needs: [a]\n    retries: yes\n"), 11,
     "expected a retry count"),
    (BASE.replace("    needs: [a]\n", "    needs: [a]\n    colour: red\n"), 11,
     "unknown field 'colour'"),
    (BASE.replace("agent: org/unit/a", "agent: not-a-ref"), 6, "agent reference"),
    (BASE.replace("agent: org/unit/a", "agent: {skill: x, tag: y}"), 6, "exactly one of ref"),
    (BASE.replace("${inputs.part}", "${inputs.part"), 7, "unclosed"),
    (BASE.replace("${inputs.part}", "${os.system}"), 7, "starts with 'inputs.' or 'steps.'"),
    (BASE.replace("${steps.a.output.data}", "${steps.a.result}"), 11, "steps.STEP.output"),
    (BASE.replace("    agent: {skill: judge}\n", "    agent: {skill: judge}\n    hold: hi\n"),
     9, "exactly one of 'agent'"),
    (BASE + "steps: {}\n", 13, "duplicate key 'steps'"),
    (BASE.replace("input: {text: \"${inputs.part}\"}", "input: &x {text: a}")
     .replace("input: {data: \"${steps.a.output.data}\"}", "input: *x"), 11, "aliases"),
    ("name: wf\nsteps:\n  a: [\n", 4, "not valid YAML"),
    ("name: wf\nsteps:\n  a: !!python/object:os.system {}\noutput: x\n", 3, "tag"),
    ("- just\n- a list\n", 1, "expected a mapping"),
])
def test_refusals_name_the_line_and_reason(text: str, line: int, reason: str) -> None:
    error = refused(text)
    assert reason in error.reason, error
    assert error.line == line, error
    assert str(error).startswith(f"line {line}")


def test_a_cycle_is_refused_with_its_path_and_line() -> None:
    error = refused("""\
        name: wf
        steps:
          a:
            agent: o/u/a
            input: hi
            needs: [c]
          b:
            agent: o/u/b
            input: hi
            needs: [a]
          c:
            agent: o/u/c
            input: hi
            needs: b
        output: done
        """)
    assert "cycle in needs" in error.reason
    assert error.line in (6, 10, 14)
    for name in ("a", "b", "c"):
        assert name in error.reason


def test_a_step_that_needs_itself_is_refused() -> None:
    error = refused("name: wf\nsteps:\n  a:\n    hold: hi\n    needs: [a]\noutput: x\n")
    assert "needs itself" in error.reason and error.line == 5


def test_a_step_needing_a_fallback_is_unreachable() -> None:
    error = refused("""\
        name: wf
        steps:
          a:
            agent: o/u/a
            input: hi
            on_failure: {fallback: b}
          b:
            hold: do it by hand
          c:
            hold: after b
            needs: [b]
        output: done
        """)
    assert "unreachable" in error.reason and error.line == 11


def test_a_fallback_whose_needs_its_primary_does_not_wait_for_is_unreachable() -> None:
    error = refused("""\
        name: wf
        steps:
          x:
            hold: first
          a:
            agent: o/u/a
            input: hi
            on_failure: {fallback: b}
          b:
            hold: do it by hand
            needs: [x]
        output: done
        """)
    assert "unreachable" in error.reason and error.line == 11


@pytest.mark.parametrize(("fallback_spec", "reason"), [
    ("{fallback: zz}", "unknown fallback step 'zz'"),
    ("{fallback: a}", "its own fallback"),
    ("retry", "on_failure is 'fail', 'skip'"),
])
def test_bad_fallbacks_are_refused(fallback_spec: str, reason: str) -> None:
    error = refused(f"name: wf\nsteps:\n  a:\n    hold: x\n    on_failure: {fallback_spec}\n"
                    "output: x\n")
    assert reason in error.reason and error.line == 5


def test_referring_to_a_fallback_step_is_refused() -> None:
    error = refused("""\
        name: wf
        steps:
          a:
            agent: o/u/a
            input: hi
            on_failure: {fallback: b}
          b:
            hold: by hand
        output: "${steps.b.output.text}"
        """)
    assert "is a fallback" in error.reason and error.line == 9


def test_a_bad_default_and_bad_input_names_are_refused() -> None:
    error = refused("name: wf\ninputs:\n  n: {type: integer, default: x}\n"
                    "steps: {a: {hold: x}}\noutput: x\n")
    assert "default does not match" in error.reason and error.line == 3
    error = refused("name: wf\ninputs:\n  bad name: string\nsteps: {a: {hold: x}}\noutput: x\n")
    assert "input name" in error.reason and error.line == 3


def test_hand_built_definitions_get_the_same_checks() -> None:
    good = Workflow(name="wf", steps=(
        Step(name="a", agent=AgentSelector(tag="t"),
             input=(PartTemplate("text", parse_template("hi")),)),
        Step(name="b", hold=parse_template("ok? ${steps.a.output.text}"), needs=("a",)),
    ), output=(PartTemplate("text", parse_template("${steps.b.output.text}")),))
    assert validate_workflow(good) is good
    bad = Workflow(name="wf", steps=(
        Step(name="a", hold=parse_template("x"), needs=("b",)),
        Step(name="b", hold=parse_template("x"), needs=("a",)),
    ), output=(PartTemplate("text", parse_template("done")),))
    with pytest.raises(WorkflowError, match="cycle") as info:
        validate_workflow(bad)
    assert info.value.line == 1
