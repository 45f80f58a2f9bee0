"""The template language: references only, typed when alone, text when embedded."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.workflows.errors import TemplateError
from a2a_mqtt.workflows.templates import (
    Ref,
    TemplateSyntaxError,
    compile_value,
    parse_template,
    render_value,
    template_refs,
)

CTX: dict[str, Any] = {
    "inputs": {"part": "P-1", "limits": {"dent": 1.2}, "n": 3},
    "steps": {
        "inspect": {"status": "completed",
                    "output": {"text": "ok", "data": {"dent_mm": 0.4, "tags": ["a", "b"]}}},
        "hold": {"status": "skipped", "output": {"text": "", "data": None}},
    },
}


def render(text: str) -> Any:
    return render_value(compile_value(text), CTX)


def test_a_lone_reference_keeps_its_type() -> None:
    assert render("${steps.inspect.output.data.dent_mm}") == 0.4
    assert render("${steps.inspect.output.data}") == {"dent_mm": 0.4, "tags": ["a", "b"]}
    assert render("${steps.inspect.output.data.tags.1}") == "b"
    assert render("${inputs.n}") == 3


def test_embedded_references_become_text() -> None:
    assert render("part ${inputs.part}: dent ${steps.inspect.output.data.dent_mm} mm") \
        == "part P-1: dent 0.4 mm"
    assert render("limits ${inputs.limits}") == 'limits {"dent":1.2}'
    assert render("note: ${steps.hold.output.text}.") == "note: ."


def test_dollar_dollar_is_a_literal() -> None:
    assert render("cost $${inputs.part}") == "cost ${inputs.part}"
    assert template_refs(parse_template("$${inputs.x}")) == []


def test_data_templates_render_nested_values() -> None:
    value = compile_value({"part": "${inputs.part}", "list": ["${inputs.n}", 7], "x": None})
    assert render_value(value, CTX) == {"part": "P-1", "list": [3, 7], "x": None}


def test_a_skipped_steps_output_is_null_all_the_way_down() -> None:
    assert render("${steps.hold.output.data.reason}") is None
    assert render("${steps.hold.status}") == "skipped"


@pytest.mark.parametrize("text", [
    "${inputs.missing}", "${steps.inspect.output.data.nope}", "${steps.other.output.text}",
    "${steps.inspect.output.data.tags.9}",
])
def test_missing_values_raise_template_error(text: str) -> None:
    with pytest.raises(TemplateError):
        render(text)


@pytest.mark.parametrize("text", [
    "${", "${}", "${inputs}", "${__import__('os')}", "${steps.a}", "${steps.a.output}",
    "${steps.a.output.text.x}", "${steps.a.status.x}", "${inputs.a b}", "${env.HOME}",
    "${inputs..x}",
])
def test_malformed_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        parse_template(text)


def test_refs_are_reported() -> None:
    refs = template_refs(compile_value({"a": "${inputs.x} ${steps.s.output.data.k}"}))
    assert refs == [Ref("inputs", "x", ()), Ref("steps", "s", ("output", "data", "k"))]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("${}.abcinputsteps_0 \\\n"), max_size=60))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        template = parse_template(text)
    except TemplateSyntaxError:
        return
    try:
        rendered = render_value(template, CTX)
    except TemplateError:
        return
    if template.single is None:
        assert isinstance(rendered, str)
