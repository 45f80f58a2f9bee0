"""The scheduler as a pure state machine: ``next_actions(state, now)`` and ``apply(state, event)``.

A runner loops: ask :func:`next_actions` what to do, do it (choose an agent and
a Task.id, publish, cancel, ...), and record what happened with :func:`apply`.
Nothing here does I/O or reads a clock, so every decision (readiness, fan-in,
retries with backoff, timeouts, ``on_failure``, input-required holds,
cancellation) is unit-tested and replays identically from the event log.

Invariants:
- an event about an attempt that is no longer current (a late reply after a
  timeout, a retry or a cancel) is ignored and not logged: one step, one result;
- ``apply`` never re-decides: the same actions come out until the runner records
  their outcome, so a crash between deciding and recording loses nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from a2a_mqtt.workflows.errors import TemplateError
from a2a_mqtt.workflows.model import AgentSelector, PartTemplate, Step
from a2a_mqtt.workflows.state import (
    AttemptCancelled,
    AttemptCompleted,
    AttemptDispatched,
    AttemptFailed,
    AttemptInputRequired,
    AttemptRecord,
    CancelRequested,
    Event,
    HoldStarted,
    InputForwarded,
    InputProvided,
    Outcome,
    Parts,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunState,
    StepFailed,
    StepOutput,
    StepSkipped,
    StepState,
)
from a2a_mqtt.workflows.templates import render_value
from a2a_mqtt.workflows.validate import topological_order

__all__ = [
    "Action",
    "CancelAttempt",
    "CompleteRun",
    "Dispatch",
    "Expire",
    "FailRun",
    "FailStep",
    "FinishCancel",
    "Forward",
    "Hold",
    "Skip",
    "apply",
    "context",
    "in_flight",
    "next_actions",
    "render_parts",
    "wake_at",
]


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Send attempt ``attempt`` of ``step``: pick an agent, record AttemptDispatched, publish."""

    step: str
    attempt: int
    selector: AgentSelector
    parts: Parts
    timeout: float | None


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the caller's reply on the waiting attempt's task, then record InputForwarded."""

    step: str
    task_id: str
    agent: str
    parts: Parts


@dataclass(frozen=True, slots=True)
class Hold:
    """Ask the caller (the workflow task goes input-required); record HoldStarted."""

    step: str
    prompt: str


@dataclass(frozen=True, slots=True)
class Skip:
    step: str
    reason: str


@dataclass(frozen=True, slots=True)
class FailStep:
    step: str
    error: str


@dataclass(frozen=True, slots=True)
class Expire:
    """The step ran out of time: cancel ``task_id`` (if any) and record the failure."""

    step: str
    task_id: str | None
    agent: str | None


@dataclass(frozen=True, slots=True)
class CancelAttempt:
    step: str
    task_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class CompleteRun:
    parts: Parts


@dataclass(frozen=True, slots=True)
class FailRun:
    error: str


@dataclass(frozen=True, slots=True)
class FinishCancel:
    pass


Action = (Dispatch | Forward | Hold | Skip | FailStep | Expire | CancelAttempt | CompleteRun
          | FailRun | FinishCancel)

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


# --- recording -----------------------------------------------------------------------------

def _set(state: RunState, name: str, **changes: Any) -> RunState:
    steps = dict(state.steps)
    steps[name] = dataclasses.replace(steps[name], **changes)
    return dataclasses.replace(state, steps=steps)


def _close_attempt(step_state: StepState, outcome: Outcome, error: str | None = None,
                   ) -> tuple[AttemptRecord, ...]:
    last = dataclasses.replace(step_state.attempts[-1], outcome=outcome, error=error)
    return (*step_state.attempts[:-1], last)


def _is_current(state: RunState, step: str, task_id: str) -> bool:
    step_state = state.steps.get(step)
    return step_state is not None and step_state.current is not None \
        and step_state.current.task_id == task_id


def apply(state: RunState, event: Event) -> RunState:
    """Fold ``event`` into ``state``; stale or out-of-place events leave it unchanged."""
    new = _apply(state, event)
    if new is state:
        return state
    return dataclasses.replace(new, events=(*state.events, event))


def _apply(state: RunState, event: Event) -> RunState:
    if state.terminal is not None or isinstance(event, RunStarted):
        return state
    if isinstance(event, RunCompleted | RunFailed | RunCancelled):
        return _finish(state, event)
    if isinstance(event, CancelRequested):
        if state.draining == "cancelling":
            return state
        return dataclasses.replace(state, draining="cancelling", error=event.reason)
    if event.step not in state.steps:
        return state
    step_state = state.steps[event.step]
    step = state.workflow.step(event.step)
    if isinstance(event, AttemptDispatched):
        if step_state.status not in ("pending", "waiting") or state.draining is not None:
            return state
        record = AttemptRecord(number=len(step_state.attempts) + 1, task_id=event.task_id,
                               agent=event.agent, dispatched_at=event.at)
        deadline = event.at + step.timeout if step.timeout is not None else None
        return _set(state, event.step, status="running", attempts=(*step_state.attempts, record),
                    ready_at=None, deadline=deadline)
    if isinstance(event, HoldStarted):
        if step_state.status != "pending" or step.hold is None:
            return state
        deadline = event.at + step.timeout if step.timeout is not None else None
        return _set(state, event.step, status="held", prompt=event.prompt, deadline=deadline)
    if isinstance(event, InputProvided):
        if step_state.status == "held":
            return _set(state, event.step, status="completed", prompt=None, deadline=None,
                        output=StepOutput.from_parts(event.parts))
        if step_state.status == "input_required":
            return _set(state, event.step, status="resuming", pending_input=event.parts)
        return state
    if isinstance(event, StepSkipped):
        if step_state.status not in ("pending", "waiting"):
            return state
        return _set(state, event.step, status="skipped", ready_at=None)
    if isinstance(event, StepFailed):
        if step_state.status not in ("pending", "waiting", "held"):
            return state
        return _resolve_failure(state, event.step, event.error)
    # Every remaining event is about one attempt: only the current one counts.
    if not _is_current(state, event.step, event.task_id):
        return state
    if isinstance(event, AttemptInputRequired):
        if step_state.status != "running":
            return state
        # The deadline pauses while a human answers; it restarts when the reply is forwarded.
        return _set(state, event.step, status="input_required", prompt=event.prompt,
                    deadline=None)
    if isinstance(event, InputForwarded):
        if step_state.status != "resuming":
            return state
        deadline = event.at + step.timeout if step.timeout is not None else None
        return _set(state, event.step, status="running", prompt=None, pending_input=None,
                    deadline=deadline)
    if isinstance(event, AttemptCompleted):
        return _set(state, event.step, status="completed", output=event.output,
                    attempts=_close_attempt(step_state, "completed"), deadline=None,
                    prompt=None)
    if isinstance(event, AttemptCancelled):
        return _set(state, event.step, status="cancelled", deadline=None,
                    attempts=_close_attempt(step_state, "cancelled"))
    return _attempt_failed(state, event, step, step_state)


def _attempt_failed(state: RunState, event: AttemptFailed, step: Step,
                    step_state: StepState) -> RunState:
    outcome: Outcome = "timed_out" if event.timed_out else "failed"
    attempts = _close_attempt(step_state, outcome, event.error)
    state = _set(state, event.step, attempts=attempts, deadline=None, prompt=None,
                 error=event.error)
    if state.draining is not None:
        return _set(state, event.step, status="cancelled")
    if len(attempts) <= step.retries.max:
        return _set(state, event.step, status="waiting",
                    ready_at=event.at + step.retries.delay(len(attempts)))
    return _resolve_failure(state, event.step, event.error)


def _resolve_failure(state: RunState, name: str, error: str) -> RunState:
    """The step has failed for good: apply its on_failure policy."""
    policy = state.workflow.step(name).on_failure
    if policy.action == "skip":
        return _set(state, name, status="skipped", error=error, ready_at=None, deadline=None)
    if policy.action == "fallback" and policy.fallback is not None:
        state = _set(state, name, status="fallen_back", error=error, ready_at=None,
                     deadline=None)
        return _set(state, policy.fallback, status="pending")
    state = _set(state, name, status="failed", error=error, ready_at=None, deadline=None)
    primary = state.workflow.fallbacks.get(name)
    if primary is not None:
        state = _set(state, primary, status="failed")
    return dataclasses.replace(state, draining="failing",
                               error=f"step {primary or name!r} failed: {error}")


def _finish(state: RunState, event: RunCompleted | RunFailed | RunCancelled) -> RunState:
    if isinstance(event, RunCompleted):
        if state.draining is not None:
            return state
        return dataclasses.replace(state, terminal="completed", output=event.parts)
    if isinstance(event, RunFailed):
        return dataclasses.replace(state, terminal="failed", error=event.error, draining=None)
    return dataclasses.replace(state, terminal="cancelled", draining=None)
