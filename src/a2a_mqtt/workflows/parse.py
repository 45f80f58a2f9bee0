"""YAML workflow text -> :class:`Workflow`, refusing anything else with a line and reason.

The field-level checks live here (types, unknown keys, durations, selectors,
template syntax); the graph checks (cycles, unknown steps and variables,
unreachable steps) are :func:`a2a_mqtt.workflows.validate.validate_workflow`,
which this calls last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from a2a_mqtt.binding.topics import AgentRef, validate_identifier
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.workflows.errors import WorkflowError
from a2a_mqtt.workflows.model import (
    INPUT_TYPES,
    AgentSelector,
    Condition,
    InputSpec,
    OnFailure,
    PartTemplate,
    RetryPolicy,
    Step,
    Workflow,
)
from a2a_mqtt.workflows.source import Located, Path, load_located
from a2a_mqtt.workflows.templates import TemplateSyntaxError, compile_value
from a2a_mqtt.workflows.validate import validate_workflow

__all__ = ["NAME", "parse_workflow"]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TOP = {"name", "description", "version", "inputs", "steps", "output"}
_STEP = {"agent", "hold", "input", "needs", "when", "timeout", "retries", "on_failure",
         "description", "runner", "trigger"}
_SPAWN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_TRIGGER = re.compile(r"\s*on\s+(?:(input)|result\s+of\s+(\S+))\s*")
_T = TypeVar("_T")


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


class _Reader:
    """Typed access into the located tree; every refusal names the line and path."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.lines: dict[str, int] = {}

    def fail(self, path: Path, reason: str) -> WorkflowError:
        return WorkflowError(reason, line=self.doc.line(path), path=_dotted(path))

    def typed(self, value: Any, path: Path, kind: type[_T] | tuple[type, ...], what: str) -> _T:
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(path, f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(path, f"expected {what}, got {_kind(value)}")
        return value  # type: ignore[return-value]

    def keys(self, value: dict[str, Any], path: Path, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                raise self.fail((*path, key), f"unknown field {key!r} "
                                f"(allowed: {', '.join(sorted(allowed))})")

    def template(self, value: Any, path: Path) -> Any:
        """Compile every string in ``value``; syntax errors point at the string's line."""
        try:
            return compile_value(value)
        except TemplateSyntaxError as exc:
            raise self.fail(path, f"bad template: {exc}") from None

    def name(self, value: Any, path: Path, what: str) -> str:
        text = self.typed(value, path, str, f"a {what} name")
        if not NAME.fullmatch(text):
            raise self.fail(path, f"{what} name {text!r} must be letters, digits, '_' or '-' "
                            "(starting with a letter or '_', at most 64)")
        return text


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def parse_workflow(text: str) -> Workflow:
    """Parse and validate a YAML workflow; raise WorkflowError (line + reason) if refused."""
    doc = load_located(text)
    r = _Reader(doc)
    top = r.typed(doc.value, (), dict, "a mapping with name, steps and output")
    r.keys(top, (), _TOP)
    # Event-driven stages (trigger:) publish results; no run renders a final output.
    event_driven = isinstance(top.get("steps"), dict) and any(
        isinstance(body, dict) and "trigger" in body for body in top["steps"].values())
    for required in ("name", "steps") if event_driven else ("name", "steps", "output"):
        if required not in top:
            raise r.fail((), f"missing required field {required!r}")
    name = r.name(top["name"], ("name",), "workflow")
    description = r.typed(top.get("description", ""), ("description",), str, "a string")
    version = top.get("version", "1")
    r.typed(version, ("version",), (str, int, float), "a version string")
    inputs = _inputs(r, top.get("inputs") or {})
    raw_steps = r.typed(top["steps"], ("steps",), dict, "a mapping of step name to step")
    if not raw_steps:
        raise r.fail(("steps",), "a workflow needs at least one step")
    steps = tuple(_step(r, key, value) for key, value in raw_steps.items())
    output = _parts(r, top["output"], ("output",)) if "output" in top else ()
    if not output and not event_driven:
        raise r.fail(("output",), "the output needs at least one text or data part")
    r.lines["output"] = doc.line(("output",))
    workflow = Workflow(name=name, description=description, version=str(version),
                        inputs=inputs, steps=steps, output=output, lines=r.lines)
    validate_workflow(workflow)
    return workflow


def _inputs(r: _Reader, raw: Any) -> tuple[InputSpec, ...]:
    specs = r.typed(raw, ("inputs",), dict, "a mapping of input name to its type")
    result = []
    for key, raw_spec in specs.items():
        path: Path = ("inputs", key)
        name = r.name(key, path, "input")
        r.lines[_dotted(path)] = r.doc.line(path)
        value = {"type": raw_spec} if isinstance(raw_spec, str) else raw_spec
        spec = r.typed(value if value is not None else {}, path, dict,
                       "a type name or a mapping with type/required/default")
        r.keys(spec, path, {"type", "required", "default", "description"})
        kind = spec.get("type", "any")
        if kind not in INPUT_TYPES:
            raise r.fail((*path, "type"), f"unknown input type {kind!r} "
                         f"(one of {', '.join(INPUT_TYPES)})")
        has_default = "default" in spec
        required = r.typed(spec.get("required", not has_default), (*path, "required"), bool,
                           "true or false")
        default = spec.get("default")
        if has_default and not matches_type(default, kind):
            raise r.fail((*path, "default"), f"default does not match type {kind!r}")
        result.append(InputSpec(name=name, type=kind, required=required, default=default,
                                description=str(spec.get("description", ""))))
    return tuple(result)


def matches_type(value: Any, kind: str) -> bool:
    """Whether a JSON value fits an input type name."""
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list | tuple),
        "any": lambda v: True,
    }
    return checks[kind](value)


def _duration(r: _Reader, value: Any, path: Path, *, allow_zero: bool = False) -> float:
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise r.fail(path, f"bad duration {value!r}: use seconds or e.g. '500ms', '30s', '2m'")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        seconds = float(r.typed(value, path, (int, float), "a duration"))
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise r.fail(path, f"duration must be positive and finite, got {value!r}")
    return seconds


def _step(r: _Reader, key: Any, raw: Any) -> Step:
    path: Path = ("steps", key)
    name = r.name(key, path, "step")
    r.lines[_dotted(path)] = r.doc.line(path)
    body = r.typed(raw, path, dict, "a mapping (agent or hold, input, needs, ...)")
    r.keys(body, path, _STEP)
    for field_name in body:
        r.lines[f"steps.{name}.{field_name}"] = r.doc.line((*path, field_name))
    if ("agent" in body) == ("hold" in body):
        raise r.fail(path, "a step has exactly one of 'agent' (call an agent) or 'hold' "
                     "(wait for the caller)")
    runner = body.get("runner", "agent")
    if runner not in ("agent", "ephemeral"):
        raise r.fail((*path, "runner"), "runner is 'agent' (call a running agent) or "
                     "'ephemeral' (spawn a worker for the step)")
    agent = (_selector(r, body["agent"], (*path, "agent"), ephemeral=runner == "ephemeral")
             if "agent" in body else None)
    if runner == "ephemeral" and agent is None:
        raise r.fail((*path, "runner"), "an ephemeral step needs agent: module:factory")
    hold = None
    if "hold" in body:
        prompt = r.typed(body["hold"], (*path, "hold"), str, "the prompt shown to the caller")
        hold = r.template(prompt, (*path, "hold"))
    parts = _parts(r, body["input"], (*path, "input")) if "input" in body else ()
    if agent is not None and not parts:
        raise r.fail(path, "an agent step needs an 'input' (text and/or data)")
    trigger = _trigger(r, body["trigger"], (*path, "trigger")) if "trigger" in body else None
    if trigger is not None and "needs" in body:
        raise r.fail((*path, "needs"), "an event-driven stage has a trigger instead of needs")
    if trigger is not None:
        r.lines[f"steps.{name}.needs"] = r.doc.line((*path, "trigger"))
    needs_raw = body.get("needs", [] if trigger in (None, "input") else [trigger])
    if isinstance(needs_raw, str):
        needs_raw = [needs_raw]
    r.typed(needs_raw, (*path, "needs"), list, "a step name or a list of step names")
    needs = tuple(r.name(item, (*path, "needs", i), "step") for i, item in enumerate(needs_raw))
    if len(set(needs)) != len(needs):
        raise r.fail((*path, "needs"), "a step is listed twice in needs")
    when = _condition(r, body["when"], (*path, "when")) if "when" in body else None
    default_timeout = 120.0 if hold is None else None
    timeout_raw = body.get("timeout", default_timeout)
    timeout = None if timeout_raw is None else _duration(r, timeout_raw, (*path, "timeout"))
    retries = _retries(r, body.get("retries", 0), (*path, "retries"))
    on_failure = _on_failure(r, body.get("on_failure", "fail"), (*path, "on_failure"))
    description = r.typed(body.get("description", ""), (*path, "description"), str, "a string")
    return Step(name=name, agent=agent, hold=hold, input=parts, needs=needs, when=when,
                timeout=timeout, retries=retries, on_failure=on_failure,
                description=description, runner=runner, trigger=trigger)


def _trigger(r: _Reader, raw: Any, path: Path) -> str:
    """``on input`` / ``on result of STEP`` (or ``{on_result_of: STEP}``) -> "input" / STEP."""
    if isinstance(raw, dict) and set(raw) == {"on_result_of"}:
        return r.name(raw["on_result_of"], (*path, "on_result_of"), "step")
    match = _TRIGGER.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise r.fail(path, "trigger is 'on input', 'on result of STEP' or {on_result_of: STEP}")
    return "input" if match.group(1) else r.name(match.group(2), path, "step")


def _spawn(r: _Reader, raw: Any, path: Path) -> AgentSelector:
    if isinstance(raw, dict):
        r.keys(raw, path, {"spawn"})
        if "spawn" not in raw:
            raise r.fail(path, "an ephemeral step's agent is module:factory or {spawn: ...}")
        path, raw = (*path, "spawn"), raw["spawn"]
    text = r.typed(raw, path, str, "module:factory (the agent a worker serves)")
    if not _SPAWN.fullmatch(text):
        raise r.fail(path, f"{text!r} is not module:factory (a dotted module, ':', a name)")
    return AgentSelector(spawn=text)


def _selector(r: _Reader, raw: Any, path: Path, *, ephemeral: bool = False) -> AgentSelector:
    if ephemeral:
        return _spawn(r, raw, path)
    if isinstance(raw, str):
        if ":" in raw:
            raise r.fail(path, f"{raw!r} looks like module:factory: add runner: ephemeral "
                         "to spawn a worker for it")
        raw = {"ref": raw}
    body = r.typed(raw, path, dict, "an agent reference, or a mapping with ref, skill or tag")
    if "spawn" in body:
        raise r.fail((*path, "spawn"), "spawn needs runner: ephemeral")
    r.keys(body, path, {"ref", "skill", "tag"})
    if len(body) != 1:
        raise r.fail(path, "choose the agent by exactly one of ref, skill or tag")
    (kind, value), = body.items()
    text = r.typed(value, (*path, kind), str, f"a {kind}")
    try:
        if kind == "ref":
            AgentRef.parse(text)
        else:
            validate_identifier(text, kind)
    except ConfigError as exc:
        raise r.fail((*path, kind), str(exc)) from None
    return AgentSelector(**{kind: text})


def _parts(r: _Reader, raw: Any, path: Path) -> tuple[PartTemplate, ...]:
    if isinstance(raw, str):
        raw = {"text": raw}
    body = r.typed(raw, path, dict, "a mapping with text, data or parts")
    r.keys(body, path, {"text", "data", "parts"})
    items: list[tuple[Any, Path]] = []
    if "parts" in body:
        listed = r.typed(body["parts"], (*path, "parts"), list, "a list of {text|data} parts")
        items.extend((item, (*path, "parts", i)) for i, item in enumerate(listed))
    plain = {k: v for k, v in body.items() if k != "parts"}
    items.extend(({key: value}, path) for key, value in plain.items())
    result = []
    for item, item_path in items:
        part = r.typed(item, item_path, dict, "a part: {text: ...} or {data: ...}")
        if len(part) != 1 or next(iter(part)) not in ("text", "data"):
            raise r.fail(item_path, "a part has exactly one of 'text' or 'data'")
        (kind, value), = part.items()
        value_path = (*item_path, kind) if item_path != path else (*path, kind)
        if kind == "text":
            r.typed(value, value_path, str, "a text template")
        result.append(PartTemplate(kind=kind, template=r.template(value, value_path)))
    return tuple(result)


def _condition(r: _Reader, raw: Any, path: Path) -> Condition:
    body = r.typed(raw, path, dict, "a mapping: {value: TEMPLATE, equals|in|not_in: ...}")
    r.keys(body, path, {"value", "equals", "in", "not_in"})
    ops = [op for op in ("equals", "in", "not_in") if op in body]
    if "value" not in body or len(ops) != 1:
        raise r.fail(path, "a condition has 'value' and exactly one of equals, in, not_in")
    value_text = r.typed(body["value"], (*path, "value"), str, "a template string")
    template = r.template(value_text, (*path, "value"))
    op = ops[0]
    operands: tuple[Any, ...]
    if op == "equals":
        operands = (body[op],)
    else:
        operands = tuple(r.typed(body[op], (*path, op), list, "a list of values"))
    return Condition(value=template, op=op, operands=operands)  # type: ignore[arg-type]


def _retries(r: _Reader, raw: Any, path: Path) -> RetryPolicy:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"max": raw}
    body = r.typed(raw, path, dict, "a retry count or {max, backoff, factor, max_backoff}")
    r.keys(body, path, {"max", "backoff", "factor", "max_backoff"})
    count = r.typed(body.get("max", 0), (*path, "max"), int, "a retry count")
    if not 0 <= count <= 100:
        raise r.fail((*path, "max"), "retries must be between 0 and 100")
    backoff = _duration(r, body.get("backoff", 1.0), (*path, "backoff"), allow_zero=True)
    factor = float(r.typed(body.get("factor", 2.0), (*path, "factor"), (int, float), "a number"))
    if not (math.isfinite(factor) and 1.0 <= factor <= 10.0):
        raise r.fail((*path, "factor"), "factor must be between 1 and 10")
    ceiling = _duration(r, body.get("max_backoff", 60.0), (*path, "max_backoff"),
                        allow_zero=True)
    return RetryPolicy(max=count, backoff=backoff, factor=factor, max_backoff=ceiling)


def _on_failure(r: _Reader, raw: Any, path: Path) -> OnFailure:
    if raw in ("fail", "skip"):
        return OnFailure(action=raw)
    if isinstance(raw, dict) and set(raw) == {"fallback"}:
        return OnFailure(action="fallback",
                         fallback=r.name(raw["fallback"], (*path, "fallback"), "step"))
    raise r.fail(path, "on_failure is 'fail', 'skip' or {fallback: STEP}")
