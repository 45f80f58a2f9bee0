"""A workflow definition as frozen Python objects (what the YAML parses into).

Build these directly, or from YAML with :func:`a2a_mqtt.workflows.parse_workflow`;
:func:`a2a_mqtt.workflows.validate_workflow` checks a hand-built one the same
way. Template-bearing fields hold parsed :class:`Template` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from a2a_mqtt.workflows.templates import Template

__all__ = [
    "INPUT_TYPES",
    "AgentSelector",
    "Condition",
    "InputSpec",
    "OnFailure",
    "PartTemplate",
    "RetryPolicy",
    "Step",
    "Workflow",
]

INPUT_TYPES = ("string", "number", "integer", "boolean", "object", "array", "any")


@dataclass(frozen=True, slots=True)
class AgentSelector:
    """Which agent runs a step: exactly one of an agent/pool reference, a skill id, a tag,
    or (``runner: ephemeral``) ``spawn``, the ``module:factory`` of an agent that a
    worker started for the step serves (docs/workflows.md §9)."""

    ref: str | None = None
    skill: str | None = None
    tag: str | None = None
    spawn: str | None = None

    @property
    def kind(self) -> Literal["ref", "skill", "tag", "spawn"]:
        if self.ref is not None:
            return "ref"
        if self.spawn is not None:
            return "spawn"
        return "skill" if self.skill is not None else "tag"

    def __str__(self) -> str:
        return f"{self.kind}={self.ref or self.skill or self.tag or self.spawn}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max`` further attempts after the first.

    Retry ``n`` (1-based) waits ``min(max_backoff, backoff * factor ** (n - 1))`` seconds.
    """

    max: int = 0
    backoff: float = 1.0
    factor: float = 2.0
    max_backoff: float = 60.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(self.max_backoff, self.backoff * self.factor ** max(0, retry - 1))


@dataclass(frozen=True, slots=True)
class OnFailure:
    """What a step's final failure does: fail the run, skip the step, or run ``fallback``."""

    action: Literal["fail", "skip", "fallback"] = "fail"
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class PartTemplate:
    """One part of a message to send: text (a Template) or data (a JSON value of Templates)."""

    kind: Literal["text", "data"]
    template: Any


@dataclass(frozen=True, slots=True)
class Condition:
    """``when:`` a rendered value equals / is in / is not in the given values."""

    value: Template
    op: Literal["equals", "in", "not_in"]
    operands: tuple[Any, ...]

    def holds(self, rendered: Any) -> bool:
        if self.op == "not_in":
            return rendered not in self.operands
        return rendered in self.operands


@dataclass(frozen=True, slots=True)
class Step:
    """One named step: an agent call, or a human ``hold`` that waits for the caller's reply."""

    name: str
    agent: AgentSelector | None = None
    hold: Template | None = None
    input: tuple[PartTemplate, ...] = ()
    needs: tuple[str, ...] = ()
    when: Condition | None = None
    timeout: float | None = 120.0
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    on_failure: OnFailure = field(default_factory=OnFailure)
    description: str = ""
    runner: Literal["agent", "ephemeral"] = "agent"
    """``ephemeral``: a worker is spawned for each attempt (``agent.spawn``) and exits after."""
    trigger: str | None = None
    """Event-driven stages only: ``input`` or the upstream step whose results start this one."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A declared workflow input."""

    name: str
    type: str = "any"
    required: bool = True
    default: Any = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Workflow:
    """A validated workflow: inputs, steps in declaration order, and the final output."""

    name: str
    steps: tuple[Step, ...]
    output: tuple[PartTemplate, ...]
    inputs: tuple[InputSpec, ...] = ()
    description: str = ""
    version: str = "1"
    # Where each step was declared (1-based lines; 1 for hand-built definitions).
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def fallbacks(self) -> dict[str, str]:
        """Fallback step name -> the step it stands in for."""
        return {step.on_failure.fallback: step.name for step in self.steps
                if step.on_failure.fallback is not None}

    @property
    def event_driven(self) -> bool:
        """Whether the steps are event-driven stages (``trigger:``), run with no supervisor."""
        return any(step.trigger is not None for step in self.steps)
