"""CallService without a broker: the item stream's shape, its bound, error mapping and the
task history (the requester is a stand-in that yields replies; behaviour tests use the
real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from a2a.client.errors import A2AClientTimeoutError

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.requester import Reply
from a2a_mqtt.dashboard import calls
from a2a_mqtt.dashboard.calls import CallService

AGENT = AgentRef("o", "u", "a")


class Replies:
    """Yields ``n`` status updates, then raises ``error`` (if any)."""

    def __init__(self, n: int, error: Exception | None = None) -> None:
        self.n, self.error = n, error

    def route(self, agent: AgentRef, task_id: str | None) -> AgentRef:
        return agent

    async def stream(self, agent: AgentRef, method: str, params: dict[str, Any], *,
                     unary: bool = False) -> AsyncIterator[Reply]:
        for i in range(self.n):
            state = "TASK_STATE_COMPLETED" if i == self.n - 1 else "TASK_STATE_WORKING"
            yield Reply({"statusUpdate": {"taskId": "t1", "status": {"state": state}}},
                        i == self.n - 1, None)
        if self.error is not None:
            raise self.error


def service(replies: Replies) -> CallService:
    return CallService(replies, None, reply_timeout=1, idle_timeout=1)  # type: ignore[arg-type]


async def collect(svc: CallService, method: str = "SendStreamingMessage") -> list[dict[str, Any]]:
    params = {"message": {"taskId": "t1", "contextId": "c1", "parts": [{"text": "x"}]}}
    return [item async for item in svc.stream(AGENT, method, params)]


@pytest.mark.asyncio
async def test_a_call_streams_its_events_then_ends_and_is_remembered() -> None:
    svc = service(Replies(3))
    items = await collect(svc)
    assert [i["kind"] for i in items] == ["call", "event", "event", "event", "end"]
    assert svc.tasks(AGENT)[0]["state"] == "TASK_STATE_COMPLETED"
    assert svc.tasks(AgentRef("o", "u", "other")) == []
    assert svc.open_calls == 0


@pytest.mark.asyncio
async def test_an_error_reply_is_the_last_item() -> None:
    items = await collect(service(Replies(1, A2AClientTimeoutError("no reply within 1s"))))
    assert items[-1]["kind"] == "error"
    assert items[-1]["type"] == "A2AClientTimeoutError"
    assert "no reply" in items[-1]["message"]


@pytest.mark.asyncio
async def test_a_reader_that_falls_behind_gets_an_overflow_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "_QUEUE_LIMIT", 5)
    items = await collect(service(Replies(50)))
    assert len(items) < 50  # bounded: far fewer than the 50 replies plus call and end
    assert items[-1]["type"] == "Overflow"
