"""A pure driver for the scheduler: the runner's loop with scripted agents, no I/O.

Every action but a dispatch records what ``actions.recorded`` says, as the
supervisor's driver (and so the in-process runner) does; a dispatch goes to a
scripted agent instead of MQTT.
"""

from __future__ import annotations

import dataclasses
import itertools
import textwrap
from collections.abc import Callable
from typing import Any

from a2a_mqtt.workflows import Workflow, parse_workflow
from a2a_mqtt.workflows.actions import Action, CancelAttempt, Dispatch, Expire, Forward, recorded
from a2a_mqtt.workflows.fold import apply
from a2a_mqtt.workflows.scheduler import next_actions, wake_at
from a2a_mqtt.workflows.state import (
    AttemptCompleted,
    AttemptDispatched,
    Event,
    RunState,
    StepOutput,
    start_run,
)

# What a scripted agent does with a dispatch: an event to apply now, or None (no answer yet).
Agent = Callable[[Dispatch, str], Event | None]


def wf(text: str) -> Workflow:
    return parse_workflow(textwrap.dedent(text))


def ok(data: Any = None, text: str = "") -> Agent:
    def answer(action: Dispatch, task_id: str) -> Event:
        return AttemptCompleted(action.step, task_id, StepOutput(text=text, data=data), at=0)
    return answer


class Sim:
    """Runs the runner's loop: actions in, events recorded, agents answer by script."""

    def __init__(self, workflow: Workflow, inputs: dict[str, Any] | None = None,
                 agents: dict[str, Agent] | None = None) -> None:
        self.state: RunState = start_run("run-1", workflow, inputs or {}, at=0.0)
        self.now = 0.0
        self.agents = agents or {}
        self.ids = (f"task-{n}" for n in itertools.count(1))
        self.log: list[Action] = []
        self.sent: list[tuple[str, str, Any]] = []   # (step, task_id, parts)
        self.cancelled: list[str] = []

    def record(self, event: Event) -> None:
        self.state = apply(self.state, event)

    def step(self) -> list[Action]:
        """One round: do every action next_actions returns."""
        actions = next_actions(self.state, self.now)
        self.log.extend(actions)
        for action in actions:
            self.perform(action)
        return actions

    def perform(self, action: Action) -> None:
        at = self.now
        if not isinstance(action, Dispatch):
            if isinstance(action, Forward):
                self.sent.append((action.step, action.task_id, action.parts))
            elif isinstance(action, Expire | CancelAttempt) and action.task_id is not None:
                self.cancelled.append(action.task_id)
            self.record(recorded(action, at))
            return
        task_id = next(self.ids)
        # Write-ahead: the attempt is recorded before it is "published".
        self.record(AttemptDispatched(action.step, task_id, f"agent-for-{action.step}", at))
        self.sent.append((action.step, task_id, action.parts))
        agent = self.agents.get(action.step)
        if agent is not None:
            event = agent(action, task_id)
            if event is not None:
                self.record(dataclasses.replace(event, at=at))  # type: ignore[arg-type]

    def settle(self, rounds: int = 100) -> RunState:
        """Loop until nothing is left to do now (advancing the clock to timers)."""
        for _ in range(rounds):
            if self.state.terminal is not None:
                return self.state
            if not self.step():
                wake = wake_at(self.state)
                if wake is None:
                    return self.state
                self.now = max(self.now, wake)
        raise AssertionError("the run did not settle")
