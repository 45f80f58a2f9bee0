"""Any YAML text -> a Workflow or a WorkflowError with a line; never another exception."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.workflows import Workflow, WorkflowError, parse_workflow

EXAMPLE = resources.files("a2a_mqtt.examples").joinpath("production_line.yaml").read_text()
LINES = EXAMPLE.splitlines()


def check(text: str) -> None:
    error: WorkflowError | None = None
    try:
        result = parse_workflow(text)
    except WorkflowError as exc:
        error = exc
    if error is None:
        assert isinstance(result, Workflow)
        return
    assert 1 <= error.line <= max(1, text.count("\n") + 1)
    assert error.reason


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check(text)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abn:-[]{}&*!<>|'\"#\n\t ,$.?%@`0123456789")),
               max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    check(text)


@settings(derandomize=True, max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_of_the_example(data: st.DataObject) -> None:
    lines = list(LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "dup", "swap", "edit"]))
        if op == "drop":
            del lines[index]
        elif op == "dup":
            lines.insert(index, lines[index])
        elif op == "swap":
            other = data.draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            lines[index] = data.draw(st.text(max_size=40))
        if not lines:
            break
    check("\n".join(lines) + "\n")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True)
    | st.sampled_from(["a", "b", "${inputs.p}", "${steps.a.output.data.x}", "o/u/a", "fail",
                       "skip", "30s", "-1", "${steps.b.output.text}", "${", "REWORK"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["agent", "hold", "input", "needs", "when", "timeout", "retries",
                         "on_failure", "text", "data", "parts", "ref", "skill", "tag",
                         "max", "backoff", "fallback", "value", "equals", "in", "a", "b"]),
        inner, max_size=4),
    max_leaves=12)


@settings(derandomize=True, max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), JSON, min_size=1, max_size=3),
       JSON, st.sampled_from([{}, {"p": "string"}, {"p": {"type": "integer", "default": 1}}]))
def test_structured_nonsense(steps: dict[str, Any], output: Any, inputs: Any) -> None:
    text = yaml.safe_dump({"name": "wf", "inputs": inputs, "steps": steps, "output": output})
    check(text)


def test_deep_nesting_and_billion_laughs_are_refused_with_a_line() -> None:
    check("[" * 2000 + "]" * 2000)
    check("a: " + "{b: " * 200 + "1" + "}" * 200)
    laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"
    with pytest.raises(WorkflowError, match="aliases"):
        parse_workflow(laughs)
