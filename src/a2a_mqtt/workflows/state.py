"""The run-state model: a run, its steps' attempts, and the append-only event log.

A :class:`RunState` is a pure value: :func:`a2a_mqtt.workflows.fold.apply`
folds one :class:`Event` into a new state and appends it to ``events``, so
replaying a run's events from :func:`start_run` rebuilds the same state (the
durable store keeps only the log; everything else is a projection of it).
Task ids and agents are chosen by the runner (a requester-generated
``Task.id`` per attempt) and only recorded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from a2a_mqtt.workflows.errors import WorkflowInputError
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.parse import matches_type

__all__ = [
    "AttemptCancelled",
    "AttemptCompleted",
    "AttemptDispatched",
    "AttemptFailed",
    "AttemptInputRequired",
    "AttemptRecord",
    "CancelRequested",
    "Event",
    "HoldStarted",
    "InputForwarded",
    "InputProvided",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "RunStarted",
    "RunState",
    "StepFailed",
    "StepOutput",
    "StepSkipped",
    "StepState",
    "bind_inputs",
    "start_run",
]

StepStatus = Literal["dormant", "pending", "waiting", "running", "input_required", "resuming",
                     "held", "completed", "skipped", "failed", "fallen_back", "cancelled"]
RunStatus = Literal["running", "input_required", "failing", "cancelling", "completed",
                    "failed", "cancelled"]
Outcome = Literal["in_flight", "completed", "failed", "timed_out", "cancelled"]
Parts = tuple[tuple[Literal["text", "data"], Any], ...]


@dataclass(frozen=True, slots=True)
class StepOutput:
    """What templates see of a finished step: its text parts joined, its first data part."""

    text: str = ""
    data: Any = None

    @classmethod
    def from_parts(cls, parts: Parts) -> StepOutput:
        texts = [value for kind, value in parts if kind == "text" and isinstance(value, str)]
        datas = [value for kind, value in parts if kind == "data"]
        return cls(text="\n".join(texts), data=datas[0] if datas else None)


# --- events: the append-only log ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunStarted:
    inputs: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class AttemptDispatched:
    """Written BEFORE the request is published (write-ahead): a crash after it re-sends."""

    step: str
    task_id: str
    agent: str
    at: float


@dataclass(frozen=True, slots=True)
class AttemptInputRequired:
    step: str
    task_id: str
    prompt: str
    at: float


@dataclass(frozen=True, slots=True)
class HoldStarted:
    step: str
    prompt: str
    at: float


@dataclass(frozen=True, slots=True)
class InputProvided:
    """The caller's reply to the workflow task, routed to the step waiting for it."""

    step: str
    parts: Parts
    at: float


@dataclass(frozen=True, slots=True)
class InputForwarded:
    """The caller's reply was sent on the waiting attempt's task (same Task.id)."""

    step: str
    task_id: str
    at: float


@dataclass(frozen=True, slots=True)
class AttemptCompleted:
    step: str
    task_id: str
    output: StepOutput
    at: float


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    step: str
    task_id: str
    error: str
    at: float
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class AttemptCancelled:
    step: str
    task_id: str
    at: float


@dataclass(frozen=True, slots=True)
class StepSkipped:
    step: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class StepFailed:
    """A failure outside any attempt (a template that cannot render, a hold timing out)."""

    step: str
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class CancelRequested:
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class RunCompleted:
    parts: Parts
    at: float


@dataclass(frozen=True, slots=True)
class RunFailed:
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class RunCancelled:
    at: float


Event = (RunStarted | AttemptDispatched | AttemptInputRequired | HoldStarted | InputProvided
         | InputForwarded | AttemptCompleted | AttemptFailed | AttemptCancelled | StepSkipped
         | StepFailed | CancelRequested | RunCompleted | RunFailed | RunCancelled)


# --- state ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a step: its own Task.id and the agent it was sent to."""

    number: int
    task_id: str
    agent: str
    dispatched_at: float
    outcome: Outcome = "in_flight"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StepState:
    status: StepStatus
    attempts: tuple[AttemptRecord, ...] = ()
    output: StepOutput | None = None
    error: str | None = None
    ready_at: float | None = None      # a retry waits until then
    deadline: float | None = None      # the running attempt (or hold) times out then
    prompt: str | None = None          # what the caller is asked, when waiting for input
    pending_input: Parts | None = None  # the caller's reply, until forwarded

    @property
    def current(self) -> AttemptRecord | None:
        """The attempt still in flight, if any."""
        if self.attempts and self.attempts[-1].outcome == "in_flight":
            return self.attempts[-1]
        return None


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: str
    workflow: Workflow
    inputs: Mapping[str, Any]
    steps: Mapping[str, StepState]
    events: tuple[Event, ...] = ()
    terminal: Literal["completed", "failed", "cancelled"] | None = None
    draining: Literal["failing", "cancelling"] | None = None
    output: Parts | None = None
    error: str | None = None
    started_at: float = 0.0

    @property
    def status(self) -> RunStatus:
        if self.terminal is not None:
            return self.terminal
        if self.draining is not None:
            return self.draining
        if any(s.status in ("input_required", "held") for s in self.steps.values()):
            return "input_required"
        return "running"

    def waiting_for_input(self) -> list[str]:
        """Steps waiting for the caller, in run order (the first gets the next reply)."""
        return [name for name, s in self.steps.items() if s.status in ("input_required", "held")]


def bind_inputs(workflow: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: given values checked against the declaration, defaults filled in."""
    declared = {spec.name: spec for spec in workflow.inputs}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise WorkflowInputError(f"unknown workflow input(s): {', '.join(unknown)} "
                                 f"(declared: {', '.join(declared) or 'none'})")
    bound: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            if not matches_type(given[name], spec.type):
                raise WorkflowInputError(f"workflow input {name!r} must be of type {spec.type}")
            bound[name] = given[name]
        elif spec.required:
            raise WorkflowInputError(f"workflow input {name!r} is required and missing")
        else:
            bound[name] = spec.default
    return bound


def start_run(run_id: str, workflow: Workflow, inputs: Mapping[str, Any], *,
              at: float) -> RunState:
    """A new run (raises WorkflowInputError for bad inputs, before anything is recorded)."""
    bound = bind_inputs(workflow, inputs)
    fallbacks = workflow.fallbacks
    steps = {step.name: StepState(status="dormant" if step.name in fallbacks else "pending")
             for step in workflow.steps}
    return RunState(run_id=run_id, workflow=workflow, inputs=bound, steps=steps,
                    events=(RunStarted(inputs=bound, at=at),), started_at=at)


