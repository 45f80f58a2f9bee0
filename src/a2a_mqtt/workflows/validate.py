"""Graph checks on a :class:`Workflow`: every refusal names the line and the reason.

Checked: step names unique; ``needs`` and fallbacks name declared steps; no
cycle; no step can never run (one that ``needs`` a fallback step, which runs
only in place of its primary; a fallback whose own needs may not have run when
its primary fails); every template reference names a declared input, or a
step that is certain to have finished first (an ancestor through ``needs``).
"""

from __future__ import annotations

from collections.abc import Iterable

from a2a_mqtt.workflows.errors import WorkflowError
from a2a_mqtt.workflows.model import Step, Workflow
from a2a_mqtt.workflows.templates import Ref, template_refs

__all__ = ["ancestors", "describe", "topological_order", "validate_workflow"]


def _line(workflow: Workflow, *keys: str) -> int:
    for key in keys:
        if key in workflow.lines:
            return workflow.lines[key]
    return 1


def _fail(workflow: Workflow, reason: str, path: str, *keys: str) -> WorkflowError:
    return WorkflowError(reason, line=_line(workflow, path, *keys), path=path)


def ancestors(workflow: Workflow) -> dict[str, set[str]]:
    """Each step's transitive ``needs`` (assumes no cycle)."""
    result: dict[str, set[str]] = {}
    for name in topological_order(workflow):
        step = workflow.step(name)
        found: set[str] = set(step.needs)
        for need in step.needs:
            found |= result[need]
        result[name] = found
    return result


def topological_order(workflow: Workflow) -> list[str]:
    """Step names, each after everything it needs; declaration order breaks ties."""
    order: list[str] = []
    done: set[str] = set()
    remaining = [step.name for step in workflow.steps]
    while remaining:
        ready = [name for name in remaining
                 if all(need in done for need in workflow.step(name).needs)]
        if not ready:
            raise _cycle_error(workflow)
        for name in ready:
            done.add(name)
            order.append(name)
        remaining = [name for name in remaining if name not in done]
    return order


def _cycle_error(workflow: Workflow) -> WorkflowError:
    needs = {step.name: step.needs for step in workflow.steps}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for need in needs[name]:
            if state.get(need) == 1:
                return [*stack[stack.index(need):], need]
            if need not in state:
                found = visit(need)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for step in workflow.steps:
        if step.name not in state:
            cycle = visit(step.name)
            if cycle:
                # Report it in dependency order: a -> b means "a runs before b".
                cycle.reverse()
                first = cycle[-1]
                return _fail(workflow, "cycle in needs: " + " -> ".join(cycle),
                             f"steps.{first}.needs", f"steps.{first}")
    return WorkflowError("cycle in needs", line=1, path="steps")


def validate_workflow(workflow: Workflow) -> Workflow:
    """Return ``workflow`` unchanged, or raise WorkflowError for the first problem found."""
    names: set[str] = set()
    for step in workflow.steps:
        if step.name in names:
            raise _fail(workflow, f"step {step.name!r} is declared twice", f"steps.{step.name}")
        names.add(step.name)
        if (step.agent is None) == (step.hold is None):
            raise _fail(workflow, "a step has exactly one of 'agent' or 'hold'",
                        f"steps.{step.name}")
    for step in workflow.steps:
        where = f"steps.{step.name}.needs"
        for need in step.needs:
            if need == step.name:
                raise _fail(workflow, f"step {step.name!r} needs itself", where,
                            f"steps.{step.name}")
            if need not in names:
                raise _fail(workflow, f"unknown step {need!r} in needs", where,
                            f"steps.{step.name}")
    topological_order(workflow)
    _check_runners(workflow)
    _check_fallbacks(workflow, names)
    before = ancestors(workflow)
    inputs = {spec.name for spec in workflow.inputs}
    fallbacks = workflow.fallbacks
    for step in workflow.steps:
        fields: dict[str, list[Ref]] = {
            "input": [ref for part in step.input for ref in template_refs(part.template)],
            "hold": template_refs(step.hold) if step.hold is not None else [],
            "when": template_refs(step.when.value) if step.when is not None else [],
        }
        for key, refs in fields.items():
            _check_refs(workflow, refs, inputs=inputs, visible=before[step.name],
                        fallbacks=fallbacks, where=f"steps.{step.name}.{key}",
                        fallback_line=f"steps.{step.name}")
    output_refs = [ref for part in workflow.output for ref in template_refs(part.template)]
    _check_refs(workflow, output_refs, inputs=inputs, visible=names, fallbacks=fallbacks,
                where="output")
    return workflow


def _check_runners(workflow: Workflow) -> None:
    """Ephemeral steps spawn their agent; event-driven stages are all triggered, call agents
    and never wait for a human (no supervisor exists to hold a run)."""
    for step in workflow.steps:
        where = f"steps.{step.name}"
        spawned = step.agent is not None and step.agent.spawn is not None
        if spawned != (step.runner == "ephemeral"):
            raise _fail(workflow, "runner: ephemeral and agent: module:factory go together",
                        f"{where}.runner", f"{where}.agent", where)
        if not workflow.event_driven:
            continue
        if step.name == "input":
            raise _fail(workflow, "'input' names the pipeline's input topic: choose another "
                        "stage name", where)
        if step.trigger is None:
            raise _fail(workflow, "every step of an event-driven workflow needs a trigger "
                        "('on input' or 'on result of STEP')", where)
        if step.hold is not None or step.runner != "agent":
            raise _fail(workflow, "an event-driven stage calls a running agent (no hold, no "
                        "ephemeral runner: no supervisor owns its run)", where)
        if step.on_failure.action == "fallback":
            raise _fail(workflow, "an event-driven stage has no fallback: its failures are "
                        "published as error events", f"{where}.on_failure", where)
        expected = () if step.trigger == "input" else (step.trigger,)
        if step.needs != expected:
            raise _fail(workflow, "an event-driven stage needs exactly its trigger",
                        f"{where}.needs", f"{where}.trigger", where)


def _check_fallbacks(workflow: Workflow, names: set[str]) -> None:
    used: dict[str, str] = {}
    for step in workflow.steps:
        fallback = step.on_failure.fallback
        if fallback is None:
            continue
        where = f"steps.{step.name}.on_failure"
        if fallback not in names:
            raise _fail(workflow, f"unknown fallback step {fallback!r}", where,
                        f"steps.{step.name}")
        if fallback == step.name:
            raise _fail(workflow, "a step cannot be its own fallback", where,
                        f"steps.{step.name}")
        if fallback in used:
            raise _fail(workflow, f"step {fallback!r} is already the fallback of "
                        f"{used[fallback]!r}", where, f"steps.{step.name}")
        used[fallback] = step.name
        if workflow.step(fallback).on_failure.action == "fallback":
            raise _fail(workflow, f"fallback step {fallback!r} cannot have a fallback of its own",
                        f"steps.{fallback}.on_failure", f"steps.{fallback}")
    before = ancestors(workflow)
    for fallback, primary in used.items():
        missing = set(workflow.step(fallback).needs) - before[primary]
        if missing:
            raise _fail(workflow, f"fallback step {fallback!r} is unreachable: it needs "
                        f"{sorted(missing)}, which {primary!r} does not wait for",
                        f"steps.{fallback}.needs", f"steps.{fallback}")
    for step in workflow.steps:
        for need in step.needs:
            if need in used:
                raise _fail(workflow, f"step {step.name!r} is unreachable: it needs "
                            f"{need!r}, which runs only in place of {used[need]!r}; "
                            f"need {used[need]!r} instead",
                            f"steps.{step.name}.needs", f"steps.{step.name}")


def _check_refs(workflow: Workflow, refs: Iterable[Ref], *, inputs: set[str],
                visible: set[str], fallbacks: dict[str, str], where: str,
                fallback_line: str = "") -> None:
    def fail(reason: str) -> WorkflowError:
        return _fail(workflow, f"${{{ref}}}: {reason}", where, fallback_line)

    for ref in refs:
        if ref.root == "inputs" and ref.name not in inputs:
            raise fail(f"unknown input {ref.name!r} (declare it under inputs)")
        if ref.root != "steps":
            continue
        if ref.name in fallbacks:
            raise fail(f"{ref.name!r} is a fallback; refer to {fallbacks[ref.name]!r}, "
                       "whose output it stands in for")
        if not any(step.name == ref.name for step in workflow.steps):
            raise fail(f"unknown step {ref.name!r}")
        if ref.name not in visible:
            raise fail(f"step {ref.name!r} is not in needs (directly or through another "
                       "step), so it may not have run yet")


def describe(workflow: Workflow, states: dict[str, str] | None = None) -> str:
    """The step graph as text, one step a line in run order (optionally with states)."""
    fallbacks = workflow.fallbacks
    lines = [f"workflow {workflow.name} (version {workflow.version})"]
    if workflow.inputs:
        lines.append("inputs: " + ", ".join(
            f"{spec.name}:{spec.type}{'' if spec.required else '?'}"
            for spec in workflow.inputs))
    depth: dict[str, int] = {}
    for name in topological_order(workflow):
        step: Step = workflow.step(name)
        what = f"agent {step.agent}" if step.agent is not None else "hold (caller input)"
        extras = []
        if step.trigger == "input":
            extras.append("on input")
        elif step.needs:
            extras.append(("on result of " if step.trigger else "after ") + ", ".join(step.needs))
        if name in fallbacks:
            extras.append(f"fallback for {fallbacks[name]}")
        if step.when is not None:
            extras.append(f"when {step.when.op}")
        if step.retries.max:
            extras.append(f"retries {step.retries.max}")
        if step.on_failure.action != "fail":
            extras.append(f"on failure {step.on_failure.action}"
                          + (f" {step.on_failure.fallback}" if step.on_failure.fallback else ""))
        state = f"[{states.get(name, 'pending')}] " if states is not None else ""
        depth[name] = 1 + max((depth[need] for need in step.needs), default=-1)
        lines.append(f"{'  ' * depth[name]}- {state}{name}: {what}"
                     + (f" ({'; '.join(extras)})" if extras else ""))
    lines.append("output: " + (", ".join(part.kind for part in workflow.output)
                               or "none (event-driven: each stage publishes its results)"))
    return "\n".join(lines)

