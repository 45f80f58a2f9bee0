"""What the scheduler asks a runner to do, and the event each action records.

:func:`~a2a_mqtt.workflows.scheduler.next_actions` returns these; a runner does
them and records what happened (docs/workflows.md §3). Only :class:`Dispatch`
needs the runner to choose (an agent, a Task.id); for every other action the
event to record is fixed, :func:`recorded` (after any I/O the action needs:
a forwarded reply sent, an attempt cancelled at its agent). Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from a2a_mqtt.workflows.model import AgentSelector
from a2a_mqtt.workflows.state import (
    AttemptCancelled,
    AttemptFailed,
    Event,
    HoldStarted,
    InputForwarded,
    Parts,
    RunCancelled,
    RunCompleted,
    RunFailed,
    StepFailed,
    StepSkipped,
)

__all__ = [
    "HOLD_EXPIRED",
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
    "recorded",
]

HOLD_EXPIRED = "no answer from the caller in time"
"""The error of a hold whose timeout passed without the caller's reply."""


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


def recorded(action: Action, at: float) -> Event:
    """The event ``action`` records at ``at`` once done; every action but Dispatch."""
    if isinstance(action, Forward):
        return InputForwarded(action.step, action.task_id, at)
    if isinstance(action, Hold):
        return HoldStarted(action.step, action.prompt, at)
    if isinstance(action, Skip):
        return StepSkipped(action.step, action.reason, at)
    if isinstance(action, FailStep):
        return StepFailed(action.step, action.error, at)
    if isinstance(action, Expire):
        if action.task_id is None:
            return StepFailed(action.step, HOLD_EXPIRED, at)
        return AttemptFailed(action.step, action.task_id, "timed out", at, timed_out=True)
    if isinstance(action, CancelAttempt):
        return AttemptCancelled(action.step, action.task_id, at)
    if isinstance(action, CompleteRun):
        return RunCompleted(action.parts, at)
    if isinstance(action, FailRun):
        return RunFailed(action.error, at)
    if isinstance(action, FinishCancel):
        return RunCancelled(at)
    raise TypeError(f"{type(action).__name__}: a dispatch records what the runner chose")
