"""One task's current state and its store writes on the lean path: a2a-sdk's TaskManager rules.

:class:`TaskLedger` does what a2a-sdk's public ``TaskManager`` does for the lean
handler (server/leantask.py), the same steps in the same order with the same
errors and the same store calls, without its per-call overhead: a
``TaskManager`` imports inside ``__init__`` and ``get_task``, logs at DEBUG about
ten times per event and saves through a ``LegacyTaskStoreAdapter`` (about 15 %
of the agent's CPU at 100 in flight went through it; issue #16, Round 4b).

What is kept, from a2a-sdk 1.3's ``TaskManager``:

* the snapshot: ``get_task`` answers from the last task read or written and
  reads the store only when there is none; ``invalidate`` drops it;
* ``save_task_event``: the event's task and context ids must match the ones
  known (else ``InvalidParamsError`` with a2a-sdk's text); a Task is saved as
  it is; a status update moves the current status message into the history,
  merges the metadata and replaces the status; an artifact update is applied by
  the rules of a2a-sdk's ``append_artifact_to_task`` (:func:`append_artifact`: the
  same replace, append and extend, the same error), without its ``trace_function``
  wrapper, which asks OpenTelemetry for a tracer and opens a no-op span on every
  call with a2a-sdk's spans off (3 % of the agent's CPU); then the task is saved with the
  event (a versioned store gets ``event``, ``prev`` and ``prev_version``, and
  its new version is kept);
* ``ensure_task_id``: the snapshot, else the store, else a new SUBMITTED task
  with the initial message in its history, saved at once (without an event);
* ``update_with_message``: the status message, then the message, into the
  history (not saved: the caller saves it).

A plain ``TaskStore`` is written with ``save(task, context)`` directly (what
``LegacyTaskStoreAdapter`` does; its version is always ``MISSING``).
``tests/unit/server/test_ledger.py`` runs both on the same event sequences and
compares the stored tasks, the snapshots, the versions and the errors.
"""

from __future__ import annotations

import logging
from typing import Any

from a2a.server.cluster import TaskVersion, VersionedTaskStore
from a2a.server.context import ServerCallContext
from a2a.server.tasks import TaskStore
from a2a.types.a2a_pb2 import (
    Message,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InvalidAgentResponseError, InvalidParamsError

__all__ = ["TaskLedger", "append_artifact"]

log = logging.getLogger(__name__)

_MISSING = TaskVersion.MISSING
_SUBMITTED = TaskState.TASK_STATE_SUBMITTED


def append_artifact(task: Task, event: TaskArtifactUpdateEvent) -> None:
    """a2a-sdk's ``append_artifact_to_task``: the artifact replaces the one with its id,
    or is added; with ``append`` its parts and metadata go to the existing one, and
    ``append`` for an id the task does not have is the agent's error."""
    new = event.artifact
    existing = None
    index = None
    for i, artifact in enumerate(task.artifacts):
        if artifact.artifact_id == new.artifact_id:
            existing, index = artifact, i
            break
    if not event.append:
        if index is not None:
            task.artifacts[index].CopyFrom(new)
        else:
            task.artifacts.append(new)
    elif existing is not None:
        existing.parts.extend(new.parts)
        existing.metadata.update(dict(new.metadata.items()))
    else:
        # A2A 1.0 §4.2.2: append=True with no prior artifact of this id (a2a-sdk #1038).
        raise InvalidAgentResponseError(
            f"append=True for nonexistent artifact_id={new.artifact_id!r} "
            f"in task {task.id!r}. The artifact must be created (append=False) "
            f"before appending parts to it."
        )


class TaskLedger:
    """a2a-sdk's ``TaskManager`` for one task of the lean path; see the module docstring."""

    __slots__ = (
        "_context",
        "_current",
        "_initial_message",
        "_pending",
        "_plain",
        "_version",
        "_versioned",
        "context_id",
        "task_id",
    )

    def __init__(
        self,
        store: TaskStore | VersionedTaskStore,
        context: ServerCallContext,
        task_id: str,
        context_id: str | None,
        initial_message: Message | None,
    ) -> None:
        if not (isinstance(task_id, str) and task_id):
            raise ValueError("Task ID must be a non-empty string")
        if isinstance(store, VersionedTaskStore):
            self._versioned: VersionedTaskStore | None = store
            self._plain: TaskStore | None = None
        else:
            self._versioned, self._plain = None, store
        self._context = context
        self.task_id = task_id
        self.context_id = context_id
        self._initial_message = initial_message
        self._current: Task | None = None
        self._version: TaskVersion = _MISSING
        self._pending: Any = None  # the event being saved (a versioned store gets it)

    @property
    def current_version(self) -> TaskVersion:
        """The version of the task last read or written (``MISSING`` on a plain store)."""
        return self._version

    def invalidate(self) -> None:
        """Forget the snapshot: the next read goes to the store."""
        self._current = None
        self._version = _MISSING

    async def _load(self) -> Task | None:
        if self._plain is not None:
            return await self._plain.get(self.task_id, self._context)
        assert self._versioned is not None
        stored = await self._versioned.get(self.task_id, self._context)
        if stored is None:
            self._version = _MISSING
            return None
        self._version = stored.version
        return stored.task

    async def get_task(self) -> Task | None:
        """The snapshot, or the task as stored (None: not stored)."""
        current = self._current
        if current:  # as TaskManager: an empty Task counts as none
            return current
        self._current = current = await self._load()
        return current

    async def save_task_event(
        self, event: Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent
    ) -> Task | None:
        """Apply ``event`` to the task and save it (see the module docstring)."""
        event_task_id = event.id if isinstance(event, Task) else event.task_id
        if self.task_id and self.task_id != event_task_id:
            raise InvalidParamsError(
                message=f"Task in event doesn't match TaskManager {self.task_id} : {event_task_id}"
            )
        if not self.task_id:
            self.task_id = event_task_id
        if self.context_id and self.context_id != event.context_id:
            raise InvalidParamsError(
                message=f"Context in event doesn't match TaskManager {self.context_id} : "
                f"{event.context_id}"
            )
        if not self.context_id:
            self.context_id = event.context_id
        if isinstance(event, Task):
            self._pending = event
            try:
                await self._save(event)
            finally:
                self._pending = None
            return event
        task = await self.ensure_task_id(event.task_id, event.context_id)
        if isinstance(event, TaskStatusUpdateEvent):
            if task.status.HasField("message"):
                task.history.append(task.status.message)
            if event.metadata:
                task.metadata.MergeFrom(event.metadata)
            task.status.CopyFrom(event.status)
        else:
            append_artifact(task, event)
        self._pending = event
        try:
            await self._save(task)
        finally:
            self._pending = None
        return task

    async def ensure_task_id(self, task_id: str, context_id: str) -> Task:
        """The snapshot, else the stored task, else a new SUBMITTED one (saved)."""
        task = self._current
        if not task and self.task_id:
            task = await self._load()
        if not task:
            log.info(
                "Task not found or task_id not set. Creating new task for event "
                "(task_id: %s, context_id: %s).",
                task_id,
                context_id,
            )
            initial = self._initial_message
            task = Task(
                id=task_id,
                context_id=context_id,
                status=TaskStatus(state=_SUBMITTED),
                history=[initial] if initial else [],
            )
            await self._save(task)
        return task

    async def process(self, event: Any) -> Any:
        """Save ``event`` if it is a task event; return it."""
        if isinstance(event, Task | TaskStatusUpdateEvent | TaskArtifactUpdateEvent):
            await self.save_task_event(event)
        return event

    def update_with_message(self, message: Message, task: Task) -> Task:
        """``message`` into ``task``'s history (after its status message, which leaves
        the status); the caller saves it."""
        if task.status.HasField("message"):
            task.history.append(task.status.message)
            task.status.ClearField("message")
        task.history.append(message)
        self._current = task
        return task

    async def _save(self, task: Task) -> None:
        if self._plain is not None:
            await self._plain.save(task, self._context)
            self._version = _MISSING
        else:
            assert self._versioned is not None
            self._version = await self._versioned.save(
                task,
                event=self._pending,
                prev=self._current,
                prev_version=self._version,
                context=self._context,
            )
        self._current = task
        if not self.task_id:
            self.task_id = task.id
            self.context_id = task.context_id
