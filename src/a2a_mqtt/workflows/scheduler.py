"""The scheduler as a pure state machine: ``next_actions(state, now)`` and ``apply(state, event)``.

A runner loops: ask :func:`next_actions` what to do, do it (choose an agent and
a Task.id, publish, cancel, ...), and record what happened with :func:`apply`.
Nothing here does I/O or reads a clock, so every decision (readiness, fan-in,
retries with backoff, timeouts, ``on_failure``, input-required holds,
cancellation) is unit-tested and replays identically from the event log.
This module decides; the actions it returns are defined in ``actions.py`` and
``apply`` (the fold of events into a state) lives in ``fold.py``.

Invariants:
- ``apply`` never re-decides: the same actions come out until the runner records
  their outcome, so a crash between deciding and recording loses nothing;
- an event about an attempt that is no longer current is ignored (``fold.py``).
"""

from __future__ import annotations

from typing import Any

from a2a_mqtt.workflows.actions import (
    Action,
    CancelAttempt,
    CompleteRun,
    Dispatch,
    Expire,
    FailRun,
    FailStep,
    FinishCancel,
    Forward,
    Hold,
    Skip,
)
from a2a_mqtt.workflows.errors import TemplateError
from a2a_mqtt.workflows.model import PartTemplate, Step
from a2a_mqtt.workflows.state import AttemptRecord, Parts, RunState, StepOutput, StepState
from a2a_mqtt.workflows.templates import render_value
from a2a_mqtt.workflows.validate import topological_order

__all__ = ["context", "in_flight", "next_actions", "render_parts", "wake_at"]

_RESOLVED = ("completed", "skipped")
_IN_FLIGHT = ("running", "input_required", "resuming")


# --- views ---------------------------------------------------------------------------------

def _effective(state: RunState, name: str) -> StepState:
    """A step as its dependents see it: a fallen-back step is its fallback."""
    step_state = state.steps[name]
    fallback = state.workflow.step(name).on_failure.fallback
    if step_state.status == "fallen_back" and fallback is not None:
        return state.steps[fallback]
    return step_state


def context(state: RunState) -> dict[str, Any]:
    """What templates render against: inputs and every resolved step."""
    steps: dict[str, Any] = {}
    for name in state.steps:
        view = _effective(state, name)
        if view.status in _RESOLVED:
            output = view.output or StepOutput()
            steps[name] = {"status": view.status,
                           "output": {"text": output.text, "data": output.data}}
    return {"inputs": dict(state.inputs), "steps": steps}


def _render_parts(parts: tuple[PartTemplate, ...], ctx: dict[str, Any]) -> Parts:
    rendered = []
    for part in parts:
        value = render_value(part.template, ctx)
        if part.kind == "text" and not isinstance(value, str):
            value = "" if value is None else str(value)
        rendered.append((part.kind, value))
    return tuple(rendered)


def render_parts(parts: tuple[PartTemplate, ...], ctx: dict[str, Any]) -> Parts:
    """A step's input rendered against ``context(state)`` (raises TemplateError)."""
    return _render_parts(parts, ctx)


def in_flight(state: RunState) -> list[tuple[str, AttemptRecord]]:
    """Attempts recorded and not finished: after a crash, re-send each (same Task.id, agent)."""
    return [(name, s.current) for name, s in state.steps.items()
            if s.current is not None and s.status in _IN_FLIGHT]


def wake_at(state: RunState) -> float | None:
    """The next instant a timer matters (a retry's backoff or a deadline), if any."""
    times = [t for s in state.steps.values() for t in (s.ready_at, s.deadline) if t is not None]
    return min(times) if times and state.terminal is None else None


# --- decisions -----------------------------------------------------------------------------

def next_actions(state: RunState, now: float) -> list[Action]:
    """What the runner should do now; the same list until their outcomes are applied."""
    if state.terminal is not None:
        return []
    flying = in_flight(state)
    if state.draining is not None:
        actions: list[Action] = [CancelAttempt(name, record.task_id, record.agent)
                                 for name, record in flying]
        if not actions:
            if state.draining == "cancelling":
                actions.append(FinishCancel())
            else:
                actions.append(FailRun(state.error or "a step failed"))
        return actions
    actions = []
    ctx = context(state)
    for name in topological_order(state.workflow):
        step = state.workflow.step(name)
        step_state = state.steps[name]
        status = step_state.status
        if status in ("running", "held") and step_state.deadline is not None \
                and now >= step_state.deadline:
            current = step_state.current
            actions.append(Expire(name, current.task_id if current else None,
                                  current.agent if current else None))
        elif status == "resuming" and step_state.current is not None \
                and step_state.pending_input is not None:
            current = step_state.current
            actions.append(Forward(name, current.task_id, current.agent,
                                   step_state.pending_input))
        elif _due(step_state, now) \
                and all(_effective(state, need).status in _RESOLVED for need in step.needs):
            actions.append(_start(state, step, step_state, ctx))
    if actions:
        return actions
    unresolved = [name for name in state.steps if name not in state.workflow.fallbacks
                  and _effective(state, name).status not in _RESOLVED]
    if not unresolved:
        try:
            return [CompleteRun(_render_parts(state.workflow.output, ctx))]
        except TemplateError as exc:
            return [FailRun(f"the workflow output cannot be rendered: {exc}")]
    return []


def _due(step_state: StepState, now: float) -> bool:
    if step_state.status == "pending":
        return True
    return step_state.status == "waiting" and step_state.ready_at is not None \
        and now >= step_state.ready_at


def _start(state: RunState, step: Step, step_state: StepState, ctx: dict[str, Any]) -> Action:
    try:
        if step.when is not None and step_state.status == "pending":
            value = render_value(step.when.value, ctx)
            if not step.when.holds(value):
                return Skip(step.name, f"condition not met ({step.when.op}; got {value!r})")
        if step.hold is not None:
            return Hold(step.name, str(render_value(step.hold, ctx)))
        parts = _render_parts(step.input, ctx)
    except TemplateError as exc:
        return FailStep(step.name, str(exc))
    assert step.agent is not None  # validation: exactly one of agent/hold
    return Dispatch(step.name, len(step_state.attempts) + 1, step.agent, parts, step.timeout)
