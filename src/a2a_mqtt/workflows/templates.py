"""The template language: ``${inputs.part}``, ``${steps.inspect.output.data.dent_mm}``.

A template is a string with ``${...}`` references; ``$${`` is a literal ``${``.
A reference is a dotted path, nothing else: no operators, no calls, no code
runs. The roots are:

- ``inputs.NAME[.key|.index ...]``: a workflow input (and a path into it);
- ``steps.STEP.output.text``: the text parts of the step's result, joined;
- ``steps.STEP.output.data[.key|.index ...]``: the first data part of its result;
- ``steps.STEP.status``: ``completed`` or ``skipped``.

A string that is exactly one reference takes the referenced value with its
type (so a data template can carry numbers and objects); a reference inside
longer text is written as text (JSON for non-strings, empty for null).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from a2a_mqtt.workflows.errors import TemplateError

__all__ = [
    "Ref",
    "Template",
    "TemplateSyntaxError",
    "compile_value",
    "lookup",
    "parse_template",
    "render_value",
    "template_refs",
]

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*|[0-9]+")
_STEP_FIELDS = ("output", "status")
_OUTPUT_FIELDS = ("text", "data")


class TemplateSyntaxError(ValueError):
    """A template string is malformed; the parser adds the line."""


@dataclass(frozen=True, slots=True)
class Ref:
    """One ``${...}`` reference: its root (``inputs``/``steps``), name and the path after it."""

    root: str
    name: str
    path: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.root, self.name, *self.path))


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template string: literal text and references, in order."""

    pieces: tuple[str | Ref, ...]

    @property
    def single(self) -> Ref | None:
        """The reference when the whole string is one reference (keeps the value's type)."""
        if len(self.pieces) == 1 and isinstance(self.pieces[0], Ref):
            return self.pieces[0]
        return None


def _parse_ref(body: str) -> Ref:
    segments = body.strip().split(".")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise TemplateSyntaxError(f"${{{body}}} is not a dotted path of names and indices")
    root = segments[0]
    if root == "inputs":
        if len(segments) < 2:
            raise TemplateSyntaxError("${inputs} needs a name: ${inputs.NAME}")
        return Ref("inputs", segments[1], tuple(segments[2:]))
    if root == "steps":
        if len(segments) < 3 or segments[2] not in _STEP_FIELDS:
            raise TemplateSyntaxError(
                f"${{{body}}}: use ${{steps.STEP.output.text}}, ${{steps.STEP.output.data...}} "
                "or ${steps.STEP.status}")
        if segments[2] == "status" and len(segments) != 3:
            raise TemplateSyntaxError(f"${{{body}}}: status has no fields")
        if segments[2] == "output":
            if len(segments) < 4 or segments[3] not in _OUTPUT_FIELDS:
                raise TemplateSyntaxError(
                    f"${{{body}}}: a step's output has 'text' and 'data'")
            if segments[3] == "text" and len(segments) != 4:
                raise TemplateSyntaxError(f"${{{body}}}: output.text has no fields")
        return Ref("steps", segments[1], tuple(segments[2:]))
    raise TemplateSyntaxError(f"${{{body}}}: a reference starts with 'inputs.' or 'steps.'")


def parse_template(text: str) -> Template:
    """Split ``text`` into literals and references; raise TemplateSyntaxError if malformed."""
    pieces: list[str | Ref] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise TemplateSyntaxError("unclosed '${' (write '$${' for a literal '${')")
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append(_parse_ref(text[i + 2:end]))
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        pieces.append("".join(literal))
    return Template(tuple(pieces))


def template_refs(value: Any) -> list[Ref]:
    """Every reference in a template value (a string, or lists/mappings of them)."""
    if isinstance(value, Template):
        return [piece for piece in value.pieces if isinstance(piece, Ref)]
    if isinstance(value, Mapping):
        return [ref for item in value.values() for ref in template_refs(item)]
    if isinstance(value, list | tuple):
        return [ref for item in value for ref in template_refs(item)]
    return []


def compile_value(value: Any) -> Any:
    """Replace every string in a JSON-like value by its parsed Template (others stay)."""
    if isinstance(value, str):
        return parse_template(value)
    if isinstance(value, Mapping):
        return {key: compile_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return tuple(compile_value(item) for item in value)
    return value


def _walk(value: Any, path: tuple[str, ...], ref: Ref) -> Any:
    for segment in path:
        if value is None:
            # A skipped step's output is null: paths into it stay null rather than fail.
            return None
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list | tuple) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            raise TemplateError(f"${{{ref}}}: no {segment!r} in the value")
    return value


def lookup(ref: Ref, context: Mapping[str, Any]) -> Any:
    """The value of ``ref`` in a context ``{"inputs": {...}, "steps": {name: {...}}}``."""
    scope = context.get(ref.root, {})
    if ref.name not in scope:
        raise TemplateError(f"${{{ref}}}: {ref.root} has no {ref.name!r} (yet)")
    return _walk(scope[ref.name], ref.path, ref)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render a compiled template value; raise TemplateError for a missing reference."""
    if isinstance(value, Template):
        single = value.single
        if single is not None:
            return lookup(single, context)
        return "".join(piece if isinstance(piece, str) else _as_text(lookup(piece, context))
                       for piece in value.pieces)
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, context) for item in value]
    return value
