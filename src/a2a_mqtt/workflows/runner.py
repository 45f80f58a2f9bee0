"""The in-process runner: one definition, run against real agents over MQTT.

:class:`WorkflowRunner` drives each run with the supervisor's own loop
(:class:`~a2a_mqtt.workflows.driver.RunDriver`: write-ahead dispatch, the same
Task.id on a re-send, stream reconciliation, timeouts, retries and ``on_failure``),
hosted in this process (docs/workflows.md §1): the run's log goes to the given
:class:`RunStore`, held under a lease that never lapses (no supervisor takes it
over, and the runner resumes no other process's run), or stays in memory
(``_MemoryLog``); when a step waits for a human, ``on_input`` is asked. Steps
with ``runner: ephemeral`` get a worker per attempt
(:class:`~a2a_mqtt.workflows.ephemeral_run.WatchedWorkers`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from a2a.client import Client

from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.workflows.driver import RunDriver
from a2a_mqtt.workflows.ephemeral import Launcher
from a2a_mqtt.workflows.ephemeral_run import WatchedWorkers
from a2a_mqtt.workflows.host import RunReader, RunWriter
from a2a_mqtt.workflows.launch import StepLauncher
from a2a_mqtt.workflows.leases import Leases, ReplyTarget
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.progress import to_parts
from a2a_mqtt.workflows.state import (
    AttemptInputRequired,
    Event,
    HoldStarted,
    InputProvided,
    Parts,
    RunState,
    start_run,
)
from a2a_mqtt.workflows.store import RunStore
from a2a_mqtt.workflows.supervisor_agents import StepAgents

__all__ = ["InputHandler", "WorkflowRunner", "to_parts"]

# Asked when a step waits for the caller: (step, prompt) -> the caller's reply parts.
InputHandler = Callable[[str, str], Awaitable[Parts]]

_NEVER_LAPSES = 1e9  # seconds: the runner's lease outlives the process


class WorkflowRunner:
    """Runs workflows in this process; ``run`` returns the terminal RunState."""

    def __init__(self, *, client: A2AMqttClient, store: RunStore | None = None,
                 on_input: InputHandler | None = None, resolve_timeout: float = 5.0,
                 launcher: Launcher | None = None,
                 worker_scope: tuple[str, str] = ("workflows", "workers"),
                 spawn_timeout: float = 30.0) -> None:
        """``launcher`` starts the workers of ``runner: ephemeral`` steps (docs/workflows.md
        §9), as agents under ``worker_scope`` (org, unit); ``spawn_timeout`` bounds the wait
        for a worker's card."""
        self.client = client
        self.store = store
        self.on_input = on_input
        self.resolve_timeout = resolve_timeout
        self.launcher = launcher
        self.worker_scope = worker_scope
        self.spawn_timeout = spawn_timeout

    async def run(self, workflow: Workflow, inputs: Mapping[str, Any], *,
                  run_id: str | None = None) -> RunState:
        # Inputs are checked (WorkflowInputError) before anything is recorded or sent.
        state = start_run(run_id or str(uuid.uuid4()), workflow, inputs, at=time.time())
        owner = f"runner-{uuid.uuid4().hex[:8]}"
        reader, writer = await _open_log(self.store, state, owner)
        host = _Host(self, workflow, owner=owner, store=reader, leases=writer)
        try:
            driver = _Driver(host, state.run_id, 1, on_input=self.on_input)
            driver.adopt(state, None)
            current = asyncio.current_task()
            assert current is not None
            host.drivers[state.run_id] = (driver, current)
            await driver.drive()
            assert driver.state is not None
            return driver.state
        finally:
            await host.workers.aclose()


async def _open_log(store: RunStore | None, state: RunState, owner: str,
                    ) -> tuple[RunReader, RunWriter]:
    """The new run's log: in ``store`` (owned by ``owner`` for good), or in memory."""
    if store is None:
        log = _MemoryLog(state)
        return log, log
    leases = Leases(store.engine, owner=owner, ttl=_NEVER_LAPSES)
    if not await leases.create(state, context_id=state.run_id, reply=None):
        raise ConfigError(f"run {state.run_id} exists already")
    return store, leases


@dataclass(frozen=True, slots=True)
class _HostConfig:
    supervisor_id: str
    resolve_timeout: float
    launchers: tuple[StepLauncher, ...]


class _Host(StepAgents):
    """What the driver of one run needs (:class:`~a2a_mqtt.workflows.host.RunHost`), in
    this process: the agents of its attempts, its log, and no caller stream."""

    def __init__(self, runner: WorkflowRunner, workflow: Workflow, *, owner: str,
                 store: RunReader, leases: RunWriter) -> None:
        self.workers = WatchedWorkers(mqtt=runner.client, launcher=runner.launcher,
                                      scope=runner.worker_scope,
                                      spawn_timeout=runner.spawn_timeout)
        self.workers.report_deaths(self.agent_died)
        self.config = _HostConfig(supervisor_id=owner, resolve_timeout=runner.resolve_timeout,
                                  launchers=(self.workers,))
        self.store = store
        self.leases = leases
        self.workflows = {workflow.name: workflow}
        self.mqtt = runner.client
        self.transport = None
        self.drivers = {}
        self._clients = {}
        self._launched = {}
        self._stopping = False

    async def client_for(self, agent: str) -> Client:
        if agent not in self._clients:
            entry = await self.workers.card(agent)  # one of our workers, once it serves
            if entry is not None:
                assert self.mqtt is not None
                self._clients[agent] = self.mqtt.client_for(entry)
        return await super().client_for(agent)

    async def publish_item(self, target: ReplyTarget, item: Any, *, end: bool) -> bool:
        raise AssertionError("a run in this process has no caller stream")


class _MemoryLog:
    """A run's log in memory, when no store is given: this process is its only reader
    and writer (no fencing needed), and the run has no caller stream (no row)."""

    def __init__(self, state: RunState) -> None:
        self.events: list[Event] = list(state.events)

    async def run_row(self, run_id: str) -> None:
        return None

    async def events_after(self, run_id: str, seq: int) -> list[Event]:
        return self.events[seq + 1:]

    async def append_many(self, run_id: str, epoch: int, first: int, items: list[Event], *,
                          status: str, error: str | None, reply: ReplyTarget | None = None,
                          streamed: int | None = None) -> None:
        assert first == len(self.events)  # the only writer: never a position taken
        self.events.extend(items)

    async def mark_streamed(self, run_id: str, target: ReplyTarget, seq: int, *,
                            ended: bool) -> None:
        raise AssertionError("a run in this process has no caller stream")


class _Driver(RunDriver):
    """The supervisor's driver; a step waiting for a human asks ``on_input``."""

    def __init__(self, host: _Host, run_id: str, epoch: int, *,
                 on_input: InputHandler | None) -> None:
        super().__init__(host, run_id, epoch)
        self.on_input = on_input
        self.asking: set[asyncio.Task[None]] = set()

    async def drive(self) -> None:
        try:
            await super().drive()
        finally:
            for task in self.asking:
                task.cancel()
            await asyncio.gather(*self.asking, return_exceptions=True)

    async def record(self, item: Event) -> bool:
        # (Only this process writes the run, so an event is recorded here once.)
        if not await super().record(item):
            return False
        if self.on_input is not None and isinstance(item, HoldStarted | AttemptInputRequired):
            task = asyncio.create_task(self._ask(self.on_input, item.step, item.prompt),
                                       name=f"workflow-input-{item.step}")
            self.asking.add(task)
            task.add_done_callback(self.asking.discard)
        return True

    async def _ask(self, handler: InputHandler, step: str, prompt: str) -> None:
        parts = await handler(step, prompt)
        self.inbox.put_nowait(InputProvided(step, parts, time.time()))
