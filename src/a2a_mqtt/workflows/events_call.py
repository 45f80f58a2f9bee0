"""One stage's agent call for one event, with the step's retries and timeout.

Attempt ``n`` of stage ``S`` on event ``E`` always uses the Task.id
``task_id_for(pipeline, S, E, n)`` and one contextId per input event, so a stage
process that restarts and sees ``E`` again sends the same requests: the agent
answers a finished task from its store and lets a running one be followed
(binding §6.2), and the work runs once. Name a stage's agent by ``ref`` (an agent,
or a pool sharing one task store) for that guarantee: a ``skill`` or ``tag`` may
resolve to another agent after a restart, which knows nothing of the first call.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, Literal

from a2a.client import Client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    Role,
    SendMessageRequest,
    TaskState,
)
from a2a.utils.errors import A2AError
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.workflows.events_codec import FlowEvent, context_id_for, task_id_for
from a2a_mqtt.workflows.model import AgentSelector, Step
from a2a_mqtt.workflows.progress import to_parts
from a2a_mqtt.workflows.state import Parts, StepOutput

__all__ = ["StageFailure", "call_stage"]

_FAILED = (TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED,
           TaskState.TASK_STATE_CANCELED)


class StageFailure(A2AMqttError):
    """Every attempt of a stage's call failed; the message names the last reason."""


async def call_stage(mqtt: A2AMqttClient, step: Step, parts: Parts, *, pipeline: str,
                     event: FlowEvent, resolve_timeout: float) -> StepOutput:
    assert step.agent is not None
    reason = "no attempt made"
    for attempt in range(step.retries.max + 1):
        if attempt:
            await asyncio.sleep(step.retries.delay(attempt))
        task_id = task_id_for(pipeline, step.name, event.id, attempt)
        client: Client | None = None
        try:
            client = mqtt.client_for(await _resolve(mqtt, step.agent, resolve_timeout))
            message = Message(message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, task_id)),
                              role=Role.ROLE_USER, task_id=task_id,
                              context_id=context_id_for(pipeline, event.origin),
                              parts=to_parts(parts))
            return await asyncio.wait_for(_stream(client, message), step.timeout)
        except TimeoutError:
            reason = f"no result within {step.timeout:g} s"
            if client is not None:
                await _cancel(client, task_id)
        except StageFailure as exc:
            reason = str(exc)  # the agent's own answer
        except (A2AMqttError, A2AError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
    tries = step.retries.max + 1
    raise StageFailure(f"{step.name} failed after {tries} attempt{'s' * (tries > 1)}: "
                       f"{reason}")


async def _resolve(mqtt: A2AMqttClient, selector: AgentSelector, timeout: float) -> Any:
    if selector.ref is not None:
        return await mqtt.resolve(selector.ref, timeout=timeout)
    if selector.skill is not None:
        return await mqtt.find(skill=selector.skill, timeout=timeout)
    return await mqtt.find(tag=selector.tag, timeout=timeout)


async def _stream(client: Client, message: Message) -> StepOutput:
    collected: list[tuple[Literal["text", "data"], Any]] = []
    async for item in client.send_message(SendMessageRequest(message=message)):
        kind = item.WhichOneof("payload")
        if kind == "message":
            return StepOutput.from_parts(_parts(item.message.parts))
        if kind == "artifact_update":
            collected.extend(_parts(item.artifact_update.artifact.parts))
            continue
        if kind == "task":
            # A duplicate's answer: the stored task, with what it produced so far.
            collected = [p for artifact in item.task.artifacts for p in _parts(artifact.parts)]
            status = item.task.status
        elif kind == "status_update":
            status = item.status_update.status
        else:
            continue
        if status.state == TaskState.TASK_STATE_COMPLETED:
            return StepOutput.from_parts(tuple(collected))
        if status.state in _FAILED:
            text = " ".join(p.text for p in status.message.parts if p.HasField("text"))
            raise StageFailure(text.strip() or TaskState.Name(status.state))
        if status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            raise StageFailure("the agent asked for input; an event-driven stage cannot wait "
                               "for a human (use a supervised workflow)")
    raise StageFailure("the agent's stream ended without a result")


def _parts(parts: Any) -> Parts:
    result: list[tuple[Literal["text", "data"], Any]] = []
    for part in parts:
        if part.HasField("text"):
            result.append(("text", part.text))
        elif part.HasField("data"):
            result.append(("data", MessageToDict(part.data)))
    return tuple(result)


async def _cancel(client: Client, task_id: str) -> None:
    # Best effort: the attempt already counts as failed.
    with contextlib.suppress(A2AMqttError, A2AError, TimeoutError):
        await asyncio.wait_for(client.cancel_task(CancelTaskRequest(id=task_id)), 5)
