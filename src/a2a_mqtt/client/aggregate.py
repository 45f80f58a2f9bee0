"""Fold a stream of A2A events into the Task a unary SendMessage would return.

Only needed for v0.1-profile responders, which answer even a non-streaming
SendMessage with a stream of status and artifact updates.
"""

from __future__ import annotations

from a2a.types.a2a_pb2 import (
    Message,
    SendMessageResponse,
    StreamResponse,
    Task,
    TaskState,
)

__all__ = ["TaskAggregator"]


class TaskAggregator:
    """Applies stream events in order; the result is a Task (or the single Message)."""

    def __init__(self, request: Message) -> None:
        self._task = Task(id=request.task_id, context_id=request.context_id)
        self._task.status.state = TaskState.TASK_STATE_SUBMITTED
        self._task.history.append(request)
        self._message: Message | None = None

    def apply(self, event: StreamResponse) -> None:
        kind = event.WhichOneof("payload")
        if kind == "task":
            self._task.CopyFrom(event.task)
        elif kind == "message":
            self._message = event.message
        elif kind == "status_update":
            self._task.status.CopyFrom(event.status_update.status)
        elif kind == "artifact_update":
            update = event.artifact_update
            for artifact in self._task.artifacts:
                if artifact.artifact_id == update.artifact.artifact_id:
                    if update.append:
                        artifact.parts.extend(update.artifact.parts)
                    else:
                        artifact.CopyFrom(update.artifact)
                    break
            else:
                self._task.artifacts.append(update.artifact)

    def response(self) -> SendMessageResponse:
        if self._message is not None:
            return SendMessageResponse(message=self._message)
        return SendMessageResponse(task=self._task)
