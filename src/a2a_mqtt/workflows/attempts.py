"""Following one attempt at its agent: send, stream, reconcile, cancel (driver.py's I/O).

The same Task.id and message id on every send of one turn (``message_id_for``),
so a re-send after a takeover or a lost stream reaches the agent's deduplication;
``outcome_of`` turns the agent's stream items into attempt events, which go to the
driver's inbox. Only an answer from the agent fails an attempt; a lost or silent
stream is re-sent until the step's timeout (``_transient``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from a2a.client.errors import A2AClientTimeoutError
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError, UnsupportedOperationError
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding.codes import ResponderUnavailableError
from a2a_mqtt.errors import TransportError
from a2a_mqtt.workflows.crash import crash_point
from a2a_mqtt.workflows.progress import plain, to_parts
from a2a_mqtt.workflows.state import (
    AttemptCompleted,
    AttemptFailed,
    AttemptInputRequired,
    Event,
    Parts,
    StepOutput,
)

if TYPE_CHECKING:
    from a2a_mqtt.workflows.host import RunHost

__all__ = ["StepCalls", "message_id_for", "outcome_of"]

log = logging.getLogger("a2a_mqtt.workflows")

_FAILED = (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED,
           TaskState.TASK_STATE_CANCELED)
# A lost stream is re-sent (same Task.id) after these delays; the step's timeout bounds it.
_RESEND_DELAYS = (0.2, 0.5, 1.0, 2.0)


def message_id_for(task_id: str, turn: int) -> str:
    """The message id of turn ``turn`` on an attempt's task: the same on every re-send."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"a2a-mqtt-workflow:{task_id}:{turn}"))


def _from_parts(parts: Any) -> Parts:
    result: list[tuple[Any, Any]] = []
    for part in parts:
        if part.HasField("text"):
            result.append(("text", part.text))
        elif part.HasField("data"):
            result.append(("data", plain(MessageToDict(part.data))))
    return tuple(result)


def _text(message: Message) -> str:
    return " ".join(p.text for p in message.parts if p.HasField("text")).strip()


def outcome_of(step: str, task_id: str, item: StreamResponse, collected: list[tuple[Any, Any]],
               at: float) -> Event | None:
    """The attempt event a step agent's stream item means, if any (artifacts collect)."""
    kind = item.WhichOneof("payload")
    if kind == "message":
        return AttemptCompleted(step, task_id, StepOutput.from_parts(
            _from_parts(item.message.parts)), at)
    if kind == "artifact_update":
        collected.extend(_from_parts(item.artifact_update.artifact.parts))
        return None
    status = item.status_update.status if kind == "status_update" else (
        item.task.status if kind == "task" else None)
    if kind == "task":
        collected.clear()  # a task snapshot carries every artifact so far
        for artifact in item.task.artifacts:
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


def _transient(exc: BaseException) -> bool:
    """A lost or silent stream (reconcile by re-sending), not an answer from the agent."""
    if isinstance(exc, A2AClientTimeoutError | TimeoutError | TransportError
                  | ResponderUnavailableError):
        return True
    return isinstance(exc.__cause__, TransportError)


class StepCalls:
    """The attempts one run is following, each in its own named task."""

    def __init__(self, host: RunHost, run_id: str, inbox: asyncio.Queue[Event]) -> None:
        self.host = host
        self.run_id = run_id
        self.inbox = inbox
        self.calls: dict[str, asyncio.Task[None]] = {}
        self.turns: dict[str, int] = {}          # task_id -> the last turn sent on it

    async def close(self) -> None:
        """Stop following every attempt (the agents keep working: a successor follows)."""
        calls = list(self.calls.values())
        for task in calls:
            task.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    def start(self, step: str, task_id: str, agent: str, parts: Parts, turn: int) -> None:
        self.turns[task_id] = turn
        message = Message(message_id=message_id_for(task_id, turn), role=Role.ROLE_USER,
                          task_id=task_id, context_id=self.run_id, parts=to_parts(parts))
        old = self.calls.pop(task_id, None)
        if old is not None:
            old.cancel()
        self.calls[task_id] = asyncio.create_task(
            self.call(step, task_id, agent, message), name=f"workflow-{self.run_id}-{step}")

    async def call(self, step: str, task_id: str, agent: str, message: Message) -> None:
        """Follow the attempt until it has an outcome; a lost stream is re-sent (dedup)."""
        collected: list[tuple[Any, Any]] = []
        for attempt in range(1_000_000):
            if attempt:
                await asyncio.sleep(_RESEND_DELAYS[min(attempt, len(_RESEND_DELAYS)) - 1])
            try:
                client = await self.host.client_for(agent)
                first = True
                async for item in client.send_message(SendMessageRequest(message=message)):
                    if first:
                        first = False
                        crash_point("after_publish", step)
                    done = outcome_of(step, task_id, item, collected, time.time())
                    if done is not None:
                        crash_point("after_result", step)
                        self.inbox.put_nowait(done)
                        return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _transient(exc):
                    log.info("run %s step %s: stream lost (%s); re-sending task %s",
                             self.run_id, step, exc, task_id)
                    continue
                if isinstance(exc, UnsupportedOperationError):
                    done = await self._stored_outcome(step, task_id, agent)
                    if done is not None:
                        self.inbox.put_nowait(done)
                        return
                self.inbox.put_nowait(AttemptFailed(
                    step, task_id, f"{type(exc).__name__}: {exc}"[:500], time.time()))
                return
            # The stream ended without an outcome: ask again (the agent answers from its store).

    async def _stored_outcome(self, step: str, task_id: str, agent: str) -> Event | None:
        """The outcome of a task its agent refused a re-send of, read with GetTask.

        An agent that answers a repeated message on a finished task with "unsupported
        operation" instead of the task (a peer without binding §6.2's duplicate
        answer) has still run the step: failing the attempt would run it twice.
        """
        try:
            client = await self.host.client_for(agent)
            task = await asyncio.wait_for(client.get_task(GetTaskRequest(id=task_id)), 10)
        except Exception as exc:
            log.info("run %s step %s: reading task %s after a refused re-send: %s",
                     self.run_id, step, task_id, exc)
            return None
        return outcome_of(step, task_id, StreamResponse(task=task), [], time.time())

    async def stop(self, task_id: str, agent: str | None) -> None:
        task = self.calls.pop(task_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if not agent or agent == "-":
            return
        # A cancel can overtake the request it cancels (the agent has no task yet):
        # asked again, briefly. Best effort: the attempt is over for the run anyway.
        for delay in (0.0, 0.3, 1.0):
            await asyncio.sleep(delay)
            try:
                client = await self.host.client_for(agent)
                await asyncio.wait_for(client.cancel_task(CancelTaskRequest(id=task_id)), 5)
                return
            except TaskNotFoundError:
                continue
            except Exception as exc:
                log.info("cancelling task %s at %s: %s", task_id, agent, exc)
                return


