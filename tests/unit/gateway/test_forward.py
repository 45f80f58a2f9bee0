"""The expose bridge's id pairing and its rewriting of HTTP-agent events (pure parts)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from a2a.client.errors import A2AClientError
from a2a.server.agent_execution import RequestContext
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    Artifact,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import InternalError, InvalidParamsError, TaskNotFoundError

from a2a_mqtt.gateway.forward import HttpForwardExecutor, IdMap


def test_pairs_both_ways_and_forgets_the_oldest() -> None:
    ids = IdMap(size=2)
    ids.bind("local-1", "up-1")
    ids.bind("local-2", "up-2")
    assert ids.upstream("local-1") == "up-1" and ids.local("up-2") == "local-2"
    ids.bind("local-1", "up-1")  # refreshing keeps it
    ids.bind("local-3", "up-3")  # evicts local-2, the least recently bound
    assert ids.upstream("local-2") is None and ids.local("up-2") is None
    assert ids.upstream("local-1") == "up-1" and ids.upstream("local-3") == "up-3"
    assert ids.upstream("unknown") is None


def _executor() -> HttpForwardExecutor:
    # _localize is pure: the HTTP client is never touched here.
    return HttpForwardExecutor(client=None, name="http://agent")  # type: ignore[arg-type]


def _context() -> RequestContext:
    message = Message(message_id="m1", role=Role.ROLE_USER, parts=[Part(text="hi")],
                      task_id="local-t", context_id="local-c")
    return RequestContext(ServerCallContext(), request=SendMessageRequest(message=message),
                          task_id="local-t", context_id="local-c")


def test_first_turn_task_is_restamped_with_the_mqtt_side_ids() -> None:
    ex, ctx = _executor(), _context()
    upstream = Task(id="up-t", context_id="up-c", status=TaskStatus(
        state=TaskState.TASK_STATE_WORKING, message=Message(task_id="up-t", context_id="up-c")),
        history=[Message(message_id="m1", task_id="up-t", context_id="up-c")])
    events = ex._localize(StreamResponse(task=upstream), "local-t", "local-c", False, ctx)
    assert len(events) == 1 and isinstance(events[0], Task)
    task = events[0]
    assert (task.id, task.context_id) == ("local-t", "local-c")
    assert (task.history[0].task_id, task.status.message.context_id) == ("local-t", "local-c")
    assert ex.tasks.upstream("local-t") == "up-t" and ex.contexts.upstream("local-c") == "up-c"


def test_a_snapshot_for_an_existing_task_becomes_updates() -> None:
    ex = _executor()
    upstream = Task(id="up-t", context_id="up-c",
                    status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED),
                    artifacts=[Artifact(artifact_id="a", parts=[Part(text="x")])])
    events = ex._localize(StreamResponse(task=upstream), "local-t", "local-c", True, _context())
    assert [type(e).__name__ for e in events] == ["TaskArtifactUpdateEvent",
                                                  "TaskStatusUpdateEvent"]
    assert all(e.task_id == "local-t" for e in events)  # type: ignore[union-attr]


def test_an_update_before_any_task_gets_a_task_first() -> None:
    update = TaskStatusUpdateEvent(task_id="up-t", context_id="up-c",
                                   status=TaskStatus(state=TaskState.TASK_STATE_WORKING))
    events = _executor()._localize(StreamResponse(status_update=update), "local-t", "local-c",
                                   False, _context())
    assert isinstance(events[0], Task) and events[0].history[0].message_id == "m1"
    assert isinstance(events[1], TaskStatusUpdateEvent) and events[1].task_id == "local-t"


def test_messages_are_restamped_and_empty_items_dropped() -> None:
    ex = _executor()
    reply = Message(message_id="r", role=Role.ROLE_AGENT, context_id="up-c")
    events = ex._localize(StreamResponse(message=reply), "local-t", "local-c", False, _context())
    assert isinstance(events[0], Message) and events[0].context_id == "local-c"
    assert not events[0].task_id  # not set upstream, not invented here
    assert ex._localize(StreamResponse(), "local-t", "local-c", False, _context()) == []


class _Failing:
    """The one Client method execute() calls, failing as an upstream call can."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def send_message(self, request: object, *, context: object = None) -> Any:
        raise self.error
        yield  # an async generator, as Client.send_message is


@pytest.mark.parametrize(("raised", "expected"), [
    (ValueError("Fail to serialize NaN for Value.number_value"), InvalidParamsError),
    (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), InvalidParamsError),
    (httpx.ConnectError("refused"), InternalError),
    (A2AClientError("HTTP Error 502"), InternalError),
    (TaskNotFoundError(), TaskNotFoundError),  # the HTTP agent's own answer keeps its class
])
@pytest.mark.asyncio
async def test_upstream_failures_become_a2a_errors(raised: Exception, expected: type) -> None:
    executor = HttpForwardExecutor(client=_Failing(raised), name="http://agent")  # type: ignore[arg-type]
    with pytest.raises(expected) as caught:
        await executor.execute(_context(), None)  # type: ignore[arg-type]  # fails before any event
    assert type(caught.value) is expected
