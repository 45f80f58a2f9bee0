"""A minimal in-process runner: one definition, run against real agents over MQTT.

The first step toward the supervisor of docs/workflows.md §4: it drives the pure
scheduler with an :class:`A2AMqttClient`, records every event (write-ahead for
dispatches) in an optional :class:`RunStore`, and asks ``on_input`` when a step
waits for a human. It holds no lease and does not resume another process's run;
those come with the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from a2a.client import Client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import A2AError
from google.protobuf.json_format import MessageToDict, ParseDict

from a2a_mqtt.binding.stream import new_task_id
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.workflows.ephemeral import Launcher
from a2a_mqtt.workflows.ephemeral_launch import worker_ref
from a2a_mqtt.workflows.ephemeral_run import run_worker
from a2a_mqtt.workflows.model import AgentSelector, Workflow
from a2a_mqtt.workflows.scheduler import (
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
    apply,
    next_actions,
    wake_at,
)
from a2a_mqtt.workflows.state import (
    AttemptCancelled,
    AttemptCompleted,
    AttemptDispatched,
    AttemptFailed,
    AttemptInputRequired,
    Event,
    HoldStarted,
    InputForwarded,
    InputProvided,
    Parts,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunState,
    StepFailed,
    StepOutput,
    StepSkipped,
    start_run,
)
from a2a_mqtt.workflows.store import RunStore

__all__ = ["InputHandler", "WorkflowRunner", "to_parts"]

log = logging.getLogger(__name__)

# Asked when a step waits for the caller: (step, prompt) -> the caller's reply parts.
InputHandler = Callable[[str, str], Awaitable[Parts]]

_FAILED = (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED,
           TaskState.TASK_STATE_CANCELED)


def to_parts(parts: Parts) -> list[Part]:
    """Rendered template parts as A2A parts (data as JSON values)."""
    result = []
    for kind, value in parts:
        if kind == "text":
            result.append(Part(text=str(value)))
        else:
            part = Part(media_type="application/json")
            ParseDict(value, part.data)
            result.append(part)
    return result


def _from_parts(parts: Any) -> Parts:
    result: list[tuple[Any, Any]] = []
    for part in parts:
        if part.HasField("text"):
            result.append(("text", part.text))
        elif part.HasField("data"):
            result.append(("data", MessageToDict(part.data)))
    return tuple(result)


def _text(message: Message) -> str:
    return " ".join(p.text for p in message.parts if p.HasField("text")).strip()


class WorkflowRunner:
    """Runs workflows in this process; ``run`` returns the terminal RunState."""

    def __init__(self, *, client: A2AMqttClient, store: RunStore | None = None,
                 on_input: InputHandler | None = None, resolve_timeout: float = 5.0,
                 launcher: Launcher | None = None,
                 worker_scope: tuple[str, str] = ("workflows", "workers"),
                 spawn_timeout: float = 30.0) -> None:
        """``launcher`` starts the workers of ``runner: ephemeral`` steps (docs/workflows.md
        §5), as agents under ``worker_scope`` (org, unit); ``spawn_timeout`` bounds the wait
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
        loop = asyncio.get_running_loop()
        state = start_run(run_id or str(uuid.uuid4()), workflow, inputs, at=loop.time())
        if self.store is not None:
            await self.store.create(state)
        return await _Run(self, state).drive()


class _Run:
    """One run's loop: actions out, events in; each call to an agent is a named task."""

    def __init__(self, runner: WorkflowRunner, state: RunState) -> None:
        self.runner = runner
        self.state = state
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.calls: dict[str, asyncio.Task[None]] = {}   # task_id -> its stream
        self.clients: dict[str, Client] = {}             # task_id -> the agent's client
        self.holds: dict[str, asyncio.Task[None]] = {}
        self.workers: dict[str, asyncio.Task[None]] = {}  # task_id -> its ephemeral worker

    async def record(self, event: Event) -> None:
        before = self.state
        self.state = apply(self.state, event)
        if self.state is before:
            return
        if self.runner.store is not None:
            await self.runner.store.append(self.state.run_id, len(self.state.events) - 1, event)
        if isinstance(event, AttemptInputRequired):
            self.holds[event.step] = asyncio.create_task(
                self.ask(event.step, event.prompt), name=f"workflow-input-{event.step}")

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def drive(self) -> RunState:
        try:
            while self.state.terminal is None:
                actions = next_actions(self.state, self.now())
                for action in actions:
                    await self.perform(action)
                if actions:
                    continue
                wake = wake_at(self.state)
                timeout = None if wake is None else max(0.0, wake - self.now())
                try:
                    event = await asyncio.wait_for(self.inbox.get(), timeout)
                except TimeoutError:
                    continue
                await self.record(event)
            return self.state
        finally:
            tasks = [*self.calls.values(), *self.holds.values(), *self.workers.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def perform(self, action: Any) -> None:
        at = self.now()
        if isinstance(action, Dispatch):
            await self.dispatch(action, at)
        elif isinstance(action, Forward):
            await self.record(InputForwarded(action.step, action.task_id, at))
            self.start_call(action.step, action.task_id, self.clients[action.task_id],
                            action.parts)
        elif isinstance(action, Hold):
            await self.record(HoldStarted(action.step, action.prompt, at))
            self.holds[action.step] = asyncio.create_task(
                self.ask(action.step, action.prompt), name=f"workflow-hold-{action.step}")
        elif isinstance(action, Skip):
            await self.record(StepSkipped(action.step, action.reason, at))
        elif isinstance(action, FailStep):
            await self.record(StepFailed(action.step, action.error, at))
        elif isinstance(action, Expire):
            if action.task_id is None:
                await self.record(StepFailed(action.step, "no answer from the caller in time",
                                             at))
            else:
                await self.stop_call(action.task_id)
                await self.record(AttemptFailed(action.step, action.task_id, "timed out", at,
                                                timed_out=True))
        elif isinstance(action, CancelAttempt):
            await self.stop_call(action.task_id)
            await self.record(AttemptCancelled(action.step, action.task_id, at))
        elif isinstance(action, CompleteRun):
            await self.record(RunCompleted(action.parts, at))
        elif isinstance(action, FailRun):
            await self.record(RunFailed(action.error, at))
        elif isinstance(action, FinishCancel):
            await self.record(RunCancelled(at))

    async def dispatch(self, action: Dispatch, at: float) -> None:
        if action.selector.spawn is not None:
            task_id = new_task_id()
            worker = worker_ref(self.runner.worker_scope, action.step, task_id)
            await self.record(AttemptDispatched(action.step, task_id, str(worker), at))
            self.workers[task_id] = asyncio.create_task(
                run_worker(self, step=action.step, task_id=task_id, ref=worker,
                           spawn=action.selector.spawn, parts=action.parts),
                name=f"workflow-worker-{action.step}")
            return
        try:
            ref, client = await self.resolve(action.selector)
        except (A2AMqttError, A2AError, TimeoutError) as exc:
            # No agent is a failed attempt (its retries and on_failure apply), not a crash.
            task_id = new_task_id()
            await self.record(AttemptDispatched(action.step, task_id, "-", at))
            await self.record(AttemptFailed(action.step, task_id,
                                            f"no agent for {action.selector}: {exc}", at))
            return
        task_id = new_task_id()
        # Write-ahead: the attempt is on record before the request is published.
        await self.record(AttemptDispatched(action.step, task_id, ref, at))
        self.clients[task_id] = client
        self.start_call(action.step, task_id, client, action.parts)

    async def resolve(self, selector: AgentSelector) -> tuple[str, Client]:
        mqtt, timeout = self.runner.client, self.runner.resolve_timeout
        if selector.ref is not None:
            entry = await mqtt.resolve(selector.ref, timeout=timeout)
        elif selector.skill is not None:
            entry = await mqtt.find(skill=selector.skill, timeout=timeout)
        else:
            entry = await mqtt.find(tag=selector.tag, timeout=timeout)
        return str(entry.ref), mqtt.client_for(entry)

    def start_call(self, step: str, task_id: str, client: Client, parts: Parts) -> None:
        message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, task_id=task_id,
                          context_id=self.state.run_id, parts=to_parts(parts))
        self.calls[task_id] = asyncio.create_task(
            self.call(step, task_id, client, message), name=f"workflow-step-{step}")

    async def call(self, step: str, task_id: str, client: Client, message: Message) -> None:
        collected: list[tuple[Any, Any]] = []
        try:
            async for event in client.send_message(SendMessageRequest(message=message)):
                done = self.observe(step, task_id, event, collected)
                if done is not None:
                    self.inbox.put_nowait(done)
                    return
            self.inbox.put_nowait(AttemptFailed(step, task_id, "the agent's stream ended "
                                                "without a result", self.now()))
        except asyncio.CancelledError:
            raise
        except (A2AMqttError, A2AError, TimeoutError) as exc:
            self.inbox.put_nowait(AttemptFailed(step, task_id, f"{type(exc).__name__}: {exc}",
                                                self.now()))

    def observe(self, step: str, task_id: str, event: StreamResponse,
                collected: list[tuple[Any, Any]]) -> Event | None:
        kind = event.WhichOneof("payload")
        at = self.now()
        if kind == "message":
            return AttemptCompleted(step, task_id, StepOutput.from_parts(
                _from_parts(event.message.parts)), at)
        if kind == "artifact_update":
            collected.extend(_from_parts(event.artifact_update.artifact.parts))
            return None
        status = event.status_update.status if kind == "status_update" else (
            event.task.status if kind == "task" else None)
        if kind == "task":
            for artifact in event.task.artifacts:
                collected.extend(_from_parts(artifact.parts))
        if status is None:
            return None
        if status.state == TaskState.TASK_STATE_COMPLETED:
            return AttemptCompleted(step, task_id, StepOutput.from_parts(tuple(collected)), at)
        if status.state in _FAILED:
            reason = _text(status.message) if status.HasField("message") else ""
            return AttemptFailed(step, task_id, reason or TaskState.Name(status.state), at)
        if status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            prompt = _text(status.message) if status.HasField("message") else ""
            return AttemptInputRequired(step, task_id, prompt, at)
        return None

    async def stop_call(self, task_id: str) -> None:
        task = self.calls.pop(task_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        client = self.clients.get(task_id)
        if client is not None:
            try:
                await asyncio.wait_for(client.cancel_task(CancelTaskRequest(id=task_id)), 5)
            except (A2AMqttError, A2AError, TimeoutError) as exc:
                log.info("cancelling task %s: %s", task_id, exc)
        worker = self.workers.pop(task_id, None)
        if worker is not None:  # an ephemeral attempt: its worker goes with it
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def ask(self, step: str, prompt: str) -> None:
        handler = self.runner.on_input
        if handler is None:
            return  # nobody to ask: the hold waits for its timeout (or forever)
        parts = await handler(step, prompt)
        self.inbox.put_nowait(InputProvided(step, parts, self.now()))


