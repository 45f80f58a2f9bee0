"""The lean handler against a2a-sdk's full handler *during* a turn (issue #16).

The executor pauses at a generated point of its script; while it waits, a
second request probes the task: GetTask, CancelTask (the executor's cancel
enqueues CANCELED, raises, or does nothing) or SubscribeToTask; SendMessage
may be a stream. Both handlers must give the same replies, stream items and
stored tasks, on the in-memory store (the SQLite store and real Mosquitto:
tests/behaviour/server/test_lean_handler.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import TaskStore
from a2a.types.a2a_pb2 import (
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    Part,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatus,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.server.fastpath import LeanRequestHandler
from a2a_mqtt.server.memstore import BoundedMemoryTaskStore
from a2a_mqtt.server.taskids import REQUESTED_TASK_ID, RequesterTaskIdBuilder
from tests.lean_compare import (
    S,
    comparable,
    run_without_gc,
    scripted_card,
    status_update,
    user_request,
)

END_STATES = [S.TASK_STATE_COMPLETED, S.TASK_STATE_FAILED, S.TASK_STATE_INPUT_REQUIRED,
              S.TASK_STATE_WORKING, S.TASK_STATE_REJECTED]
CARD = scripted_card()
WAIT = 1.0


@dataclass(frozen=True)
class Probe:
    artifacts: int          # artifact updates before the end
    end: int                # the final state
    pause_at: int           # events sent before the executor pauses (1 = after the Task;
                            # = the number of events: it pauses before returning)
    probe: str              # get | cancel | subscribe | none
    on_cancel: str          # what the executor's cancel does: canceled | raise | noop
    stream: bool
    fail_after: bool        # the executor raises after its last event


probes = st.builds(Probe, st.integers(0, 2), st.sampled_from(END_STATES), st.integers(1, 3),
                   st.sampled_from(["get", "cancel", "subscribe", "none"]),
                   st.sampled_from(["canceled", "raise", "noop"]), st.booleans(),
                   st.booleans())


class Gated(AgentExecutor):
    """Task, WORKING, artifacts, end state; pauses after ``pause_at`` events."""

    def __init__(self, p: Probe) -> None:
        self.p = p
        self.paused = asyncio.Event()
        self.go = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        tid, cid = str(context.task_id), str(context.context_id)
        task = Task(id=tid, context_id=cid, status=TaskStatus(state=S.TASK_STATE_SUBMITTED))
        assert context.message is not None
        task.history.append(context.message)
        events: list[Any] = [task, status_update(tid, cid, S.TASK_STATE_WORKING)]
        events += [TaskArtifactUpdateEvent(task_id=tid, context_id=cid, artifact=Artifact(
            artifact_id=f"a{i}", parts=[Part(text=f"part {i}")])) for i in range(self.p.artifacts)]
        events.append(status_update(tid, cid, self.p.end))
        for i, event in enumerate(events):
            if i == self.p.pause_at:
                self.paused.set()
                await self.go.wait()
            await event_queue.enqueue_event(event)
        if self.p.pause_at == len(events):
            # Pause after the last event, before returning: a probe after the executor
            # returned races a2a-sdk's own queue drain (either order is correct), so the
            # probe always lands while the turn is running.
            self.paused.set()
            await self.go.wait()
        self.paused.set()
        if self.p.fail_after:
            raise RuntimeError("agent failed after its last event")

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if self.p.on_cancel == "raise":
            raise RuntimeError("not cancelable")
        if self.p.on_cancel == "canceled":
            await event_queue.enqueue_event(status_update(
                str(context.task_id), str(context.context_id), S.TASK_STATE_CANCELED))


async def collect(events: Any) -> list[Any]:
    """A stream's items, its error, and whether it was still open after WAIT (a
    subscription to a parked task stays open; a2a-sdk's ends quietly when cancelled)."""
    seen: list[Any] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with asyncio.timeout(WAIT):
            async for event in events:
                seen.append(comparable(event))
    except TimeoutError:
        pass
    except Exception as exc:
        seen.append(comparable(exc))
    if loop.time() - start >= WAIT * 0.9:
        seen.append("still open")
    return seen


async def probe_run(handler_cls: type[DefaultRequestHandler], p: Probe,
                    store: TaskStore | None = None) -> list[Any]:
    store = store or BoundedMemoryTaskStore(max_tasks=100, max_bytes=10**6)
    executor = Gated(p)
    handler = handler_cls(agent_executor=executor, task_store=store, agent_card=CARD,
                          request_context_builder=RequesterTaskIdBuilder())
    call = ServerCallContext(state={REQUESTED_TASK_ID: "task-1"})
    request = user_request("x", message_id="m1", context_id="ctx-1")
    seen: list[Any] = []
    try:
        if p.stream:
            send: asyncio.Task[Any] = asyncio.create_task(
                collect(handler.on_message_send_stream(request, call)))
        else:
            send = asyncio.create_task(asyncio.wait_for(handler.on_message_send(request, call),
                                                        WAIT))
        await asyncio.wait_for(executor.paused.wait(), WAIT)
        for _ in range(20):  # let the full handler's consumer catch up with the executor
            await asyncio.sleep(0)
        other = ServerCallContext()
        sub: asyncio.Task[list[Any]] | None = None
        if p.probe == "get":
            seen.append(comparable(await handler.on_get_task(GetTaskRequest(id="task-1"), other)))
        elif p.probe == "subscribe":
            sub = asyncio.create_task(collect(handler.on_subscribe_to_task(
                SubscribeToTaskRequest(id="task-1"), other)))
            for _ in range(20):
                await asyncio.sleep(0)
        elif p.probe == "cancel":
            try:
                seen.append(comparable(await asyncio.wait_for(
                    handler.on_cancel_task(CancelTaskRequest(id="task-1"), other), WAIT)))
            except Exception as exc:
                seen.append(comparable(exc))
        executor.go.set()
        try:
            reply = await send
            seen.append(reply if p.stream else comparable(reply))
        except Exception as exc:
            seen.append(comparable(exc))
        if sub is not None:
            seen.append(await sub)
        for _ in range(20):
            await asyncio.sleep(0)
        stored = await store.get("task-1", call)
        seen.append(None if stored is None else comparable(stored))
    finally:
        await handler.aclose()
    return seen


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(probes)
def test_probes_during_a_turn_see_what_the_full_handler_shows(p: Probe) -> None:
    lean = run_without_gc(probe_run(LeanRequestHandler, p))
    full = run_without_gc(probe_run(DefaultRequestHandler, p))
    assert lean == full


def test_get_task_during_a_turn_finds_the_task_stored_at_its_first_event() -> None:
    """The gap the first fast path had: the task was stored only at the turn's end."""
    p = Probe(artifacts=0, end=S.TASK_STATE_COMPLETED, pause_at=1, probe="get",
              on_cancel="noop", stream=False, fail_after=False)
    seen = asyncio.run(probe_run(LeanRequestHandler, p))
    during = Task()
    during.ParseFromString(seen[0][1])
    assert during.id == "task-1" and during.status.state == S.TASK_STATE_SUBMITTED


def test_cancel_during_a_turn_stops_the_executor_and_records_canceled() -> None:
    p = Probe(artifacts=1, end=S.TASK_STATE_COMPLETED, pause_at=2, probe="cancel",
              on_cancel="noop", stream=False, fail_after=False)
    seen = asyncio.run(probe_run(LeanRequestHandler, p))
    cancelled, stored = Task(), Task()
    cancelled.ParseFromString(seen[0][1])
    stored.ParseFromString(seen[-1][1])
    assert cancelled.status.state == S.TASK_STATE_CANCELED
    assert stored.status.state == S.TASK_STATE_CANCELED  # the executor did not complete it


async def _released_then_cancelled(handler_cls: type[DefaultRequestHandler]) -> tuple[Any, int]:
    """A task parked in input-required past ``interrupted_task_timeout``, then cancelled."""
    p = Probe(artifacts=0, end=S.TASK_STATE_INPUT_REQUIRED, pause_at=9, probe="none",
              on_cancel="canceled", stream=False, fail_after=False)
    calls = 0

    class Counting(Gated):
        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            nonlocal calls
            calls += 1
            await super().cancel(context, event_queue)

    store = BoundedMemoryTaskStore(max_tasks=100, max_bytes=10**6)
    handler = handler_cls(agent_executor=Counting(p), task_store=store, agent_card=CARD,
                          request_context_builder=RequesterTaskIdBuilder(),
                          interrupted_task_timeout=0.05)
    call = ServerCallContext(state={REQUESTED_TASK_ID: "task-1"})
    try:
        reply = await handler.on_message_send(
            user_request("x", message_id="m1", context_id="ctx-1"), call)
        assert isinstance(reply, Task) and reply.status.state == S.TASK_STATE_INPUT_REQUIRED
        await asyncio.sleep(0.3)  # the release is a timer: nothing to await but time
        cancelled = await handler.on_cancel_task(CancelTaskRequest(id="task-1"),
                                                 ServerCallContext())
    finally:
        await handler.aclose()
    return comparable(cancelled), calls


def test_a_parked_task_is_released_after_the_interrupted_timeout_as_in_a2a_sdk() -> None:
    lean = asyncio.run(_released_then_cancelled(LeanRequestHandler))
    full = asyncio.run(_released_then_cancelled(DefaultRequestHandler))
    assert lean == full
    assert lean[1] == 0  # released: the executor's cancel is not called any more
