"""What the caller of a workflow sees: its task and the progress stream, as pure functions.

The workflow task's stream is a projection of the run's event log (docs/workflows.md
§5.2): each logged event becomes at most one stream item, so whichever supervisor
holds the run can continue the stream from the last event already streamed.
Every status update carries ``metadata.a2aMqttWorkflow = {"seq": N, ...}``, the
event's position in the log (strictly increasing along one stream; a
duplicate after a takeover repeats a seq and can be dropped).

Progress items are ``TaskStatusUpdateEvent`` in state WORKING with one data part:
``{"event": "step_started"|"step_output"|"step_failed"|"step_skipped"|
"step_resumed"|"cancelling", "step": NAME, ...}``. Input-required and the
terminal states end a stream; completion is preceded by the final artifact
(``artifactId = "output"``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from a2a.types.a2a_pb2 import (
    Artifact,
    Message,
    Part,
    Role,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf.json_format import ParseDict

from a2a_mqtt.workflows.state import (
    AttemptCancelled,
    AttemptCompleted,
    AttemptDispatched,
    AttemptFailed,
    AttemptInputRequired,
    CancelRequested,
    Event,
    HoldStarted,
    InputForwarded,
    InputProvided,
    Parts,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunState,
    StepFailed,
    StepSkipped,
)

__all__ = ["META_KEY", "ends_stream", "plain", "run_task", "stream_items", "to_parts"]

META_KEY = "a2aMqttWorkflow"
_STATES = {"running": TaskState.TASK_STATE_WORKING,
           "failing": TaskState.TASK_STATE_WORKING,
           "cancelling": TaskState.TASK_STATE_WORKING,
           "input_required": TaskState.TASK_STATE_INPUT_REQUIRED,
           "completed": TaskState.TASK_STATE_COMPLETED,
           "failed": TaskState.TASK_STATE_FAILED,
           "cancelled": TaskState.TASK_STATE_CANCELED}


def plain(value: Any) -> Any:
    """A JSON value from a protobuf Struct: integral numbers back to ints (Struct keeps
    only doubles, so ``41`` arrives as ``41.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


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


def _agent_message(text: str, data: dict[str, Any] | None = None) -> Message:
    parts = [Part(text=text)]
    if data is not None:
        parts.extend(to_parts((("data", data),)))
    # Deterministic, so every supervisor projects the same item for the same event.
    # (sorted keys: an output read back from the log has its keys sorted.)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    mid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"a2a-mqtt-workflow:{text}|{canonical}"))
    return Message(message_id=mid, role=Role.ROLE_AGENT, parts=parts)


def _attempt_number(state: RunState, step: str, task_id: str) -> int:
    for record in state.steps[step].attempts:
        if record.task_id == task_id:
            return record.number
    return 0


def _progress(state: RunState, item: Event) -> tuple[str, dict[str, Any]] | None:
    """(human text, data) for a progress event; None for events the caller never sees."""
    if isinstance(item, AttemptDispatched):
        n = _attempt_number(state, item.step, item.task_id)
        return (f"step {item.step} started (attempt {n}, agent {item.agent})",
                {"event": "step_started", "step": item.step, "attempt": n,
                 "agent": item.agent, "taskId": item.task_id})
    if isinstance(item, AttemptCompleted):
        return (f"step {item.step} completed",
                {"event": "step_output", "step": item.step,
                 "output": {"text": item.output.text, "data": item.output.data}})
    if isinstance(item, AttemptFailed | StepFailed):
        step_state = state.steps[item.step]
        return (f"step {item.step} failed: {item.error}",
                {"event": "step_failed", "step": item.step, "error": item.error,
                 "timedOut": bool(getattr(item, "timed_out", False)),
                 "then": step_state.status})
    if isinstance(item, StepSkipped):
        return (f"step {item.step} skipped: {item.reason}",
                {"event": "step_skipped", "step": item.step, "reason": item.reason})
    if isinstance(item, InputProvided | InputForwarded):
        return (f"step {item.step} resumed with the caller's reply",
                {"event": "step_resumed", "step": item.step})
    if isinstance(item, AttemptCancelled):
        return (f"step {item.step} cancelled",
                {"event": "step_cancelled", "step": item.step})
    if isinstance(item, CancelRequested):
        return ("cancelling: " + item.reason, {"event": "cancelling", "reason": item.reason})
    return None


def _update(state: RunState, seq: int, task_state: Any, message: Message | None,
            extra: dict[str, Any] | None = None) -> StreamResponse:
    update = TaskStatusUpdateEvent(task_id=state.run_id, context_id=_context(state),
                                   status=TaskStatus(state=task_state))
    if message is not None:
        update.status.message.CopyFrom(message)
    update.metadata.update({META_KEY: {"seq": seq, **(extra or {})}})
    return StreamResponse(status_update=update)


def _context(state: RunState) -> str:
    return state.run_id


def stream_items(state: RunState, seq: int) -> list[StreamResponse]:
    """The stream items for event ``seq`` of ``state.events`` (``state`` folded past it).

    The last item of an input-required or terminal event ends the stream.
    """
    item = state.events[seq]
    if isinstance(item, RunStarted):
        return [StreamResponse(task=run_task(state, status="running"))]
    if isinstance(item, AttemptInputRequired | HoldStarted):
        return [_update(state, seq, TaskState.TASK_STATE_INPUT_REQUIRED, _agent_message(
            item.prompt or f"step {item.step} needs input",
            {"event": "input_required", "step": item.step, "prompt": item.prompt}))]
    if isinstance(item, RunCompleted):
        artifact = Artifact(artifact_id="output", name="output", parts=to_parts(item.parts))
        return [StreamResponse(artifact_update=TaskArtifactUpdateEvent(
                    task_id=state.run_id, context_id=_context(state), artifact=artifact,
                    last_chunk=True)),
                _update(state, seq, TaskState.TASK_STATE_COMPLETED, None)]
    if isinstance(item, RunFailed):
        return [_update(state, seq, TaskState.TASK_STATE_FAILED, _agent_message(item.error))]
    if isinstance(item, RunCancelled):
        return [_update(state, seq, TaskState.TASK_STATE_CANCELED,
                        _agent_message(state.error or "cancelled"))]
    progress = _progress(state, item)
    if progress is None:
        return []
    text, data = progress
    return [_update(state, seq, TaskState.TASK_STATE_WORKING, _agent_message(text, data))]


def ends_stream(item: StreamResponse) -> bool:
    """True for the item after which nothing more is sent on one request's stream."""
    if not item.HasField("status_update"):
        return False
    return item.status_update.status.state in (
        TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED)


def run_task(state: RunState, *, status: str | None = None) -> Task:
    """The workflow task as GetTask returns it: state, prompt or error, final artifact."""
    run_status = status or state.status
    task = Task(id=state.run_id, context_id=_context(state),
                status=TaskStatus(state=_STATES[run_status]))
    waiting = state.waiting_for_input()
    if run_status == "input_required" and waiting:
        prompt = state.steps[waiting[0]].prompt or f"step {waiting[0]} needs input"
        task.status.message.CopyFrom(_agent_message(
            prompt, {"event": "input_required", "step": waiting[0], "prompt": prompt}))
    elif run_status in ("failed", "cancelled") and state.error:
        task.status.message.CopyFrom(_agent_message(state.error))
    if run_status == "completed" and state.output is not None:
        task.artifacts.append(Artifact(artifact_id="output", name="output",
                                       parts=to_parts(state.output)))
    steps = {name: {"status": s.status, "attempts": len(s.attempts)}
             for name, s in state.steps.items()}
    task.metadata.update({META_KEY: {"seq": len(state.events) - 1, "steps": steps}})
    return task
