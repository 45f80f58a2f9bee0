"""TaskLedger against a2a-sdk's TaskManager on the same calls (issue #16, Round 4b).

Each example plays one generated sequence of calls (task events, status and
artifact updates with or without a status message, metadata and append, wrong
ids, ensure_task_id, update_with_message, invalidate, a write another writer
made in between) on a ``TaskManager`` and on a ``TaskLedger``, each over its own
store of the same kind, and checks every result, error, snapshot, version and
store call (with the task and event as written) is the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    StoredTask,
    TaskVersion,
    VersionedTaskStore,
)
from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryTaskStore, TaskManager, TaskStore
from a2a.server.tasks.task_manager import append_artifact_to_task
from a2a.types.a2a_pb2 import (
    Artifact,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf.struct_pb2 import Struct
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from a2a_mqtt.server.ledger import TaskLedger, append_artifact

TID, CID = "11111111-1111-4111-8111-111111111111", "ctx-1"
STATES = [
    TaskState.TASK_STATE_SUBMITTED,
    TaskState.TASK_STATE_WORKING,
    TaskState.TASK_STATE_INPUT_REQUIRED,
    TaskState.TASK_STATE_COMPLETED,
    TaskState.TASK_STATE_FAILED,
    TaskState.TASK_STATE_CANCELED,
]


class RecordingVersionedStore(VersionedTaskStore):
    """Counter versions, a2a-sdk's version check, and a log of every call."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Task, int]] = {}
        self.calls: list[tuple[Any, ...]] = []

    async def save(
        self,
        task: Task,
        *,
        event: Any,
        prev: Task | None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        self.calls.append(("save", _bytes(task), _bytes(event), _bytes(prev), prev_version))
        row = self.rows.get(task.id)
        current = TaskVersion(row[1]) if row is not None else TaskVersion.MISSING
        if current != prev_version:
            raise ConcurrentTaskModificationError(task.id)
        version = (row[1] if row is not None else 0) + 1
        kept = Task()
        kept.CopyFrom(task)
        self.rows[task.id] = (kept, version)
        return TaskVersion(version)

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        self.calls.append(("get", task_id))
        row = self.rows.get(task_id)
        if row is None:
            return None
        copy = Task()
        copy.CopyFrom(row[0])
        return StoredTask(copy, TaskVersion(row[1]))

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        raise NotImplementedError

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self.rows.pop(task_id, None)

    def bump(self, task_id: str) -> None:
        """Another writer advanced the stored task."""
        row = self.rows.get(task_id)
        if row is not None:
            self.rows[task_id] = (row[0], row[1] + 1)


class RecordingPlainStore(TaskStore):
    """a2a-sdk's memory store, logging each call."""

    def __init__(self) -> None:
        self.inner = InMemoryTaskStore()
        self.calls: list[tuple[Any, ...]] = []

    async def save(self, task: Task, context: ServerCallContext) -> None:
        self.calls.append(("save", _bytes(task)))
        await self.inner.save(task, context)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        self.calls.append(("get", task_id))
        return await self.inner.get(task_id, context)

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        return await self.inner.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self.inner.delete(task_id, context)

    def bump(self, task_id: str) -> None:
        pass


def _bytes(message: Any) -> bytes | None:
    return None if message is None else bytes(message.SerializeToString(deterministic=True))


def _status(state: int, text: str | None, meta: bool) -> TaskStatusUpdateEvent:
    status = TaskStatus(state=state)
    if text is not None:
        status.message.CopyFrom(
            Message(message_id=f"s-{text}", role=Role.ROLE_AGENT, parts=[Part(text=text)])
        )
    event = TaskStatusUpdateEvent(task_id=TID, context_id=CID, status=status)
    if meta:
        event.metadata.CopyFrom(Struct(fields={}))
        event.metadata.update({"k": text or "v"})
    return event


def _artifact(artifact_id: str, append: bool) -> TaskArtifactUpdateEvent:
    return TaskArtifactUpdateEvent(
        task_id=TID,
        context_id=CID,
        append=append,
        artifact=Artifact(artifact_id=artifact_id, parts=[Part(text=artifact_id)]),
    )


call = st.one_of(
    st.tuples(st.just("task"), st.sampled_from(STATES), st.booleans()),
    st.tuples(
        st.just("status"),
        st.sampled_from(STATES),
        st.one_of(st.none(), st.sampled_from(["a", "b"])),
        st.booleans(),
    ),
    st.tuples(st.just("artifact"), st.sampled_from(["x", "y"]), st.booleans()),
    st.tuples(st.just("wrong"), st.sampled_from(["task", "context"])),
    st.tuples(st.just("ensure")),
    st.tuples(st.just("message"), st.sampled_from(["m1", "m2"])),
    st.tuples(st.just("get")),
    st.tuples(st.just("invalidate")),
    st.tuples(st.just("bump")),
)


async def _play(manager: Any, store: Any, calls: list[tuple[Any, ...]]) -> list[Any]:
    out: list[Any] = []
    for c in calls:
        try:
            match c:
                case ("task", state, with_history):
                    task = Task(id=TID, context_id=CID, status=TaskStatus(state=state))
                    if with_history:
                        task.history.append(Message(message_id="h", role=Role.ROLE_USER))
                    result = await manager.save_task_event(task)
                case ("status", state, text, meta):
                    result = await manager.save_task_event(_status(state, text, meta))
                case ("artifact", artifact_id, append):
                    result = await manager.save_task_event(_artifact(artifact_id, append))
                case ("wrong", which):
                    event = _status(TaskState.TASK_STATE_WORKING, None, False)
                    if which == "task":
                        event.task_id = "other"
                    else:
                        event.context_id = "other"
                    result = await manager.process(event)
                case ("ensure",):
                    result = await manager.ensure_task_id(TID, CID)
                case ("message", message_id):
                    task = await manager.get_task()
                    if task is None:
                        continue
                    message = Message(
                        message_id=message_id, role=Role.ROLE_USER, parts=[Part(text=message_id)]
                    )
                    result = await manager.save_task_event(
                        manager.update_with_message(message, task)
                    )
                case ("get",):
                    result = await manager.get_task()
                case ("invalidate",):
                    manager.invalidate()
                    result = None
                case _:  # ("bump",)
                    store.bump(TID)
                    result = None
            out.append(
                (
                    "ok",
                    _bytes(result)
                    if result is not None and hasattr(result, "SerializeToString")
                    else result,
                )
            )
        except Exception as exc:  # the same error, word for word
            out.append(("error", type(exc).__name__, str(exc)))
        out.append(("version", manager.current_version, manager.context_id))
    out.append(("snapshot", _bytes(await manager.get_task())))
    return out


def _run(
    calls: list[tuple[Any, ...]], *, versioned: bool, initial: bool, known_context: bool
) -> tuple[list[Any], list[Any]]:
    context = ServerCallContext()
    message = (
        Message(message_id="first", role=Role.ROLE_USER, parts=[Part(text="hi")])
        if initial
        else None
    )
    cid = CID if known_context else None

    def store() -> Any:
        return RecordingVersionedStore() if versioned else RecordingPlainStore()

    sdk_store, lean_store = store(), store()
    sdk = asyncio.run(_play(TaskManager(sdk_store, context, TID, cid, message), sdk_store, calls))
    lean = asyncio.run(_play(TaskLedger(lean_store, context, TID, cid, message), lean_store, calls))
    assert lean_store.calls == sdk_store.calls
    return sdk, lean


COMMON = [
    ("task", TaskState.TASK_STATE_SUBMITTED, False),
    ("artifact", "x", False),
    ("status", TaskState.TASK_STATE_COMPLETED, None, False),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(call, max_size=8),
    versioned=st.booleans(),
    initial=st.booleans(),
    known_context=st.booleans(),
)
@example(calls=COMMON, versioned=False, initial=True, known_context=True)
@example(calls=COMMON, versioned=True, initial=True, known_context=True)
@example(
    calls=[
        ("status", TaskState.TASK_STATE_WORKING, "a", True),
        ("artifact", "x", True),
        ("artifact", "x", True),
        ("bump",),
        ("status", TaskState.TASK_STATE_FAILED, None, False),
    ],
    versioned=True,
    initial=True,
    known_context=False,
)
def test_ledger_does_what_task_manager_does(
    calls: list[tuple[Any, ...]], versioned: bool, initial: bool, known_context: bool
) -> None:
    sdk, lean = _run(calls, versioned=versioned, initial=initial, known_context=known_context)
    assert lean == sdk


def test_the_comparison_sees_a_difference() -> None:
    """The harness can fail: a ledger that skips the status message move is caught."""

    class Broken(TaskLedger):
        def update_with_message(self, message: Message, task: Task) -> Task:
            task.history.append(message)
            return task

    context = ServerCallContext()
    calls = [("status", TaskState.TASK_STATE_INPUT_REQUIRED, "a", False), ("message", "m1")]
    sdk_store, lean_store = RecordingPlainStore(), RecordingPlainStore()
    sdk = asyncio.run(_play(TaskManager(sdk_store, context, TID, CID, None), sdk_store, calls))
    lean = asyncio.run(_play(Broken(lean_store, context, TID, CID, None), lean_store, calls))
    assert lean != sdk


def _artifact_event(artifact_id: str, append: bool, text: str, meta: str | None) -> Any:
    artifact = Artifact(artifact_id=artifact_id, parts=[Part(text=text)])
    if meta is not None:
        artifact.metadata.update({"k": meta, meta: 1})
    return TaskArtifactUpdateEvent(task_id=TID, context_id=CID, append=append, artifact=artifact)


artifact_steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.booleans(),
        st.sampled_from(["p", "q"]),
        st.one_of(st.none(), st.sampled_from(["m", "n"])),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(steps=artifact_steps)
def test_append_artifact_is_a2a_sdks(steps: list[tuple[str, bool, str, str | None]]) -> None:
    """Artifact updates (replace, add, append parts and metadata, append to a missing
    id) leave the same task, or raise the same error, as a2a-sdk's own function."""
    ours, sdk = Task(id=TID, context_id=CID), Task(id=TID, context_id=CID)
    for step in steps:
        results = []
        for task, apply in ((ours, append_artifact), (sdk, append_artifact_to_task)):
            try:
                apply(task, _artifact_event(*step))
                results.append(None)
            except Exception as exc:
                results.append((type(exc).__name__, str(exc)))
        assert results[0] == results[1]
        assert _bytes(ours) == _bytes(sdk)
