"""Ephemeral workers for a supervisor: a ``StepLauncher`` (the supervisor's hook).

The supervisor asks ``launch(request)`` for the agent of one attempt of a step
with ``runner: ephemeral``; this starts a worker (through any :class:`Launcher`)
serving the step's ``module:factory`` under a reference unique to the attempt and
returns that reference; the supervisor resolves its card and calls it.
``finished(request, outcome)`` reaps the worker (it exits by itself after a
finished task; one that has not within the grace is killed). The requests are
read structurally (``step``, ``task_id``), so this module does not depend on the
supervisor's.

``on_death`` (optional) is called with ``(task_id, reason)`` when a worker exits
before its attempt was finished; a supervisor adds its own report through
``report_deaths`` (launch.ReportsDeaths) and fails the attempt at once instead of
at its step timeout. A worker that exits 0 has finished its task and published
its answer: it is reported only if ``finished`` has not come within a grace, so
the answer (on its way) wins over the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.workflows.ephemeral import Launcher, WorkerHandle, WorkerSpec
from a2a_mqtt.workflows.model import Step

__all__ = ["EphemeralStepLauncher", "worker_ref"]

log = logging.getLogger(__name__)

_REAP_GRACE = 5.0


def worker_ref(scope: tuple[str, str], step: str, task_id: str) -> AgentRef:
    """The reference a worker for one attempt serves under: unique per attempt.

    The Task.id's *last* 8 hex digits: random in a UUIDv4 and a UUIDv7, hash bits in a
    UUIDv5; a UUIDv7's first 8 are its timestamp, shared by every id of a ~65 s window."""
    return AgentRef(scope[0], scope[1], f"{step}-{task_id.replace('-', '')[-8:]}")


class _Request(Protocol):
    @property
    def step(self) -> Step: ...

    @property
    def task_id(self) -> str: ...


class EphemeralStepLauncher:
    """Starts one worker per attempt of the steps with ``runner: ephemeral``."""

    def __init__(self, *, launcher: Launcher, connection: ConnectionSettings,
                 scope: tuple[str, str] = ("workflows", "workers"),
                 idle_timeout: float = 60.0,
                 on_death: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self.launcher = launcher
        self.connection = connection
        self.scope = scope
        self.idle_timeout = idle_timeout
        self.on_death = on_death
        self._reports: list[Callable[[str, str], Awaitable[None]]] = []
        self.workers: dict[str, WorkerHandle] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def report_deaths(self, report: Callable[[str, str], Awaitable[None]]) -> None:
        self._reports.append(report)

    def handles(self, step: Step) -> bool:
        return step.agent is not None and step.agent.spawn is not None

    async def launch(self, request: _Request) -> str:
        step = request.step
        assert step.agent is not None
        assert step.agent.spawn is not None
        ref = worker_ref(self.scope, step.name, request.task_id)
        handle = await self.launcher.launch(WorkerSpec.for_connection(
            self.connection, ref=ref, agent=step.agent.spawn, idle_timeout=self.idle_timeout))
        self.workers[request.task_id] = handle
        if self.on_death is not None or self._reports:
            self._watchers[request.task_id] = asyncio.create_task(
                self._watch(request.task_id, ref, handle), name=f"worker-watch-{ref.name}")
        return str(ref)

    async def _watch(self, task_id: str, ref: AgentRef, handle: WorkerHandle) -> None:
        code = await handle.wait()
        if code == 0:
            # A clean exit follows a finished task whose answer is on its way: the
            # attempt's ``finished`` (which cancels this watch) normally comes first.
            await asyncio.sleep(_REAP_GRACE)
        if task_id not in self.workers:
            return
        tail = handle.diagnostics().strip().splitlines()[-1:]
        reason = (f"ephemeral worker {ref} ({handle.ident}) died: exited with status {code} "
                  "before its attempt finished" + "".join(f"; stderr: {line}" for line in tail))
        for report in ([self.on_death] if self.on_death else []) + self._reports:
            try:
                await report(task_id, reason)
            except Exception:
                log.exception("reporting the death of worker %s failed", ref)

    async def finished(self, request: _Request, outcome: str) -> None:
        handle = self.workers.pop(request.task_id, None)
        watcher = self._watchers.pop(request.task_id, None)
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if handle is not None:
            await _reap(handle)

    async def aclose(self) -> None:
        """Kill every worker still running (the supervisor is stopping)."""
        for task_id in list(self._watchers):
            self._watchers.pop(task_id).cancel()
        workers, self.workers = list(self.workers.values()), {}
        for handle in workers:
            await handle.kill()


async def _reap(handle: WorkerHandle) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(handle.wait(), _REAP_GRACE)
    await handle.kill()
