"""The step-launcher hook: how a supervisor gets an agent for one step attempt.

By default a supervisor resolves a step's ``agent`` selector (ref, skill, tag)
through discovery and sends the attempt there. A :class:`StepLauncher` plugged
into :class:`~a2a_mqtt.workflows.supervisor.SupervisorConfig` (``launchers``)
can instead provide the agent itself, for example an ephemeral worker spawned
for this one attempt (issue #14, item 5). The first launcher whose ``handles``
returns True for a step is used for every attempt of that step.

Contract (what the supervisor guarantees and expects):
- ``launch`` is called before the attempt is recorded (write-ahead), so it
  must be cheap to repeat: after a supervisor crash the new owner re-sends the
  recorded attempt to the recorded agent and does NOT call ``launch`` again;
  a launcher whose worker died with the old owner gets the step's retry policy
  (the re-send fails or times out, and the next attempt calls ``launch``).
- it returns the ``org/unit/agent`` reference the attempt is sent to; the agent
  must publish its card (online) within ``resolve_timeout`` of the supervisor;
- ``finished`` is called once the attempt has an outcome (``completed``,
  ``failed``, ``timed_out`` or ``cancelled``) on the supervisor that saw it; it
  is where a launcher stops its worker. It is best effort: a crash skips it.
- a launcher raising :class:`~a2a_mqtt.errors.A2AMqttError` or ``TimeoutError``
  fails the attempt with that reason (retries and ``on_failure`` apply).
- a launcher that also implements :class:`ReportsDeaths` is given, when the
  supervisor starts, a callback ``(task_id, reason)`` to call when an attempt's
  agent died before the attempt finished: the owner records the attempt failed
  at once (fenced, in the log) instead of at its step timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from a2a_mqtt.workflows.model import Step

__all__ = ["DeathReport", "LaunchRequest", "ReportsDeaths", "StepLauncher"]

DeathReport = Callable[[str, str], Awaitable[None]]
"""``(task_id, reason)``: an attempt's agent died before the attempt finished."""


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """One attempt of one step that needs an agent."""

    run_id: str
    workflow: str
    step: Step
    task_id: str
    """The attempt's requester-generated Task.id (new for every attempt)."""
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""


@runtime_checkable
class StepLauncher(Protocol):
    """Provides the agent for the steps it handles (see the module docstring)."""

    def handles(self, step: Step) -> bool:
        """True if this launcher provides the agent for ``step``."""
        ...

    async def launch(self, request: LaunchRequest) -> str:
        """Make an agent ready for this attempt; return its ``org/unit/agent`` reference."""
        ...

    async def finished(self, request: LaunchRequest, outcome: str) -> None:
        """The attempt ended with ``outcome``; release what ``launch`` started."""
        ...


@runtime_checkable
class ReportsDeaths(Protocol):
    """A launcher that learns of its agents' deaths (a worker process that exited)."""

    def report_deaths(self, report: DeathReport) -> None:
        """From now on, also call ``report`` when an attempt's agent dies unfinished."""
        ...
