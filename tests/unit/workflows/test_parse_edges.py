"""The definition's additions for ephemeral workers and event-driven stages.

``runner: ephemeral`` + ``agent: module:factory`` and ``trigger: on input`` /
``on result of X``: accepted forms, and each refusal with its line and reason.
"""

from __future__ import annotations

import textwrap

import pytest

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.workflows import AgentSelector, WorkflowError, describe, parse_workflow
from a2a_mqtt.workflows.ephemeral import WorkerAgent, load_agent

EPHEMERAL = """\
name: eph
steps:
  a:
    runner: ephemeral
    agent: a2a_mqtt.examples.workers:inspection
    input: "x"
  b:
    runner: ephemeral
    agent: {spawn: "a2a_mqtt.examples.workers:quality"}
    needs: a
    input: {data: "${steps.a.output.data}"}
output: "${steps.b.output.text}"
"""

PIPELINE = """\
name: flow
inputs: {part: string}
steps:
  a:
    agent: {ref: org/unit/a}
    trigger: on input
    input: {data: {part: "${inputs.part}"}}
  b:
    agent: {ref: org/unit/b}
    trigger: on result of a
    input: {data: "${steps.a.output.data}"}
  c:
    agent: {ref: org/unit/c}
    trigger: {on_result_of: a}
    input: "${steps.a.output.text}"
"""


def refused(text: str) -> WorkflowError:
    with pytest.raises(WorkflowError) as info:
        parse_workflow(textwrap.dedent(text))
    return info.value


def test_ephemeral_steps_name_the_factory_either_way() -> None:
    workflow = parse_workflow(EPHEMERAL)
    assert workflow.step("a").runner == "ephemeral"
    assert workflow.step("a").agent == AgentSelector(spawn="a2a_mqtt.examples.workers:inspection")
    assert workflow.step("b").agent == AgentSelector(spawn="a2a_mqtt.examples.workers:quality")
    assert not workflow.event_driven
    assert "a: agent spawn=a2a_mqtt.examples.workers:inspection" in describe(workflow)


@pytest.mark.parametrize(("old", "new", "line", "reason"), [
    ("agent: a2a_mqtt.examples.workers:inspection", "agent: not a factory", 5,
     "is not module:factory"),
    ("runner: ephemeral\n    agent: a2a", "runner: sometimes\n    agent: a2a", 4,
     "runner is 'agent'"),
    ("    runner: ephemeral\n    agent: a2a_mqtt.examples.workers:inspection",
     "    agent: a2a_mqtt.examples.workers:inspection", 4, "add runner: ephemeral"),
    ('agent: {spawn: "a2a_mqtt', 'agent: {ref: "a2a_mqtt', 9, "unknown field 'ref'"),
])
def test_ephemeral_refusals_name_the_line(old: str, new: str, line: int, reason: str) -> None:
    error = refused(EPHEMERAL.replace(old, new, 1))
    assert error.line == line
    assert reason in error.reason


def test_spawn_without_the_ephemeral_runner_is_refused() -> None:
    error = refused(EPHEMERAL.replace("    runner: ephemeral\n    agent: {spawn",
                                      "    agent: {spawn"))
    assert (error.line, error.path) == (8, "steps.b.agent.spawn")
    assert "spawn needs runner: ephemeral" in error.reason


def test_triggers_make_an_event_driven_workflow_without_output() -> None:
    workflow = parse_workflow(PIPELINE)
    assert workflow.event_driven
    assert [(s.name, s.trigger, s.needs) for s in workflow.steps] == [
        ("a", "input", ()), ("b", "a", ("a",)), ("c", "a", ("a",))]
    assert workflow.output == ()
    assert "b: agent ref=org/unit/b (on result of a)" in describe(workflow)


@pytest.mark.parametrize(("old", "new", "line", "reason"), [
    ("trigger: on result of a", "trigger: when a is done", 10, "trigger is 'on input'"),
    ("trigger: on result of a", "trigger: on result of zz", 10, "unknown step 'zz'"),
    ("trigger: on result of a", "trigger: on result of b", 10, "needs itself"),
    ("    trigger: on result of a\n", "", 9, "needs a trigger"),
    ("trigger: on result of a", "trigger: on result of a\n    needs: [a]", 11,
     "trigger instead of needs"),
    ("  b:\n    agent: {ref: org/unit/b}", "  b:\n    hold: wait\n    agent: {ref: org/unit/b}",
     9, "exactly one of 'agent'"),
    ("    agent: {ref: org/unit/b}\n", "    hold: wait\n", 9, "no hold"),
    ("  c:\n", "  input:\n", 13, "'input' names the pipeline's input topic"),
    ("    input: \"${steps.a.output.text}\"",
     "    input: \"${steps.b.output.text}\"", 15, "not in needs"),
])
def test_trigger_refusals_name_the_line(old: str, new: str, line: int, reason: str) -> None:
    error = refused(PIPELINE.replace(old, new, 1))
    assert reason in error.reason, error
    assert error.line == line, error


def test_a_fallback_is_refused_in_a_pipeline() -> None:
    text = PIPELINE.replace("    trigger: {on_result_of: a}\n",
                            "    trigger: {on_result_of: a}\n    on_failure: {fallback: b}\n")
    error = refused(text)
    assert "an event-driven stage has no fallback" in error.reason
    assert error.line == 15


def test_load_agent_builds_the_worker_agent_or_says_why_not() -> None:
    built = load_agent("a2a_mqtt.examples.workers:inspection")
    assert isinstance(built, WorkerAgent)
    assert built.card.name == "Part Inspection"
    with pytest.raises(ConfigError, match="cannot load"):
        load_agent("a2a_mqtt.no_such_module:x")
    with pytest.raises(ConfigError, match="cannot load"):
        load_agent("a2a_mqtt.examples.workers:nothing")
    with pytest.raises(ConfigError, match="did not build an agent"):
        load_agent("a2a_mqtt.examples.workers:__name__")
