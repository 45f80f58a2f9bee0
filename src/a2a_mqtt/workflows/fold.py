"""Recording: ``apply(state, event)`` folds one event into a run's state (pure).

The other half of the scheduler (docs/workflows.md §3): ``next_actions`` decides,
``apply`` records what happened. A run's state is ``fold(apply, events)`` from
:func:`~a2a_mqtt.workflows.state.start_run`, so replaying the log rebuilds it.

Invariants:
- an event about an attempt that is no longer current (a late reply after a
  timeout, a retry or a cancel) is ignored and not logged: one step, one result;
- an event that does not apply returns the very same ``state`` object, which is
  how callers tell a stale event from a recorded one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from a2a_mqtt.workflows.model import Step
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

__all__ = ["apply"]


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
