"""The registry's A2A face (``find-agents``) under any query, over a churned index.

For any message (text, data parts of any JSON, or none), the executor either
completes the task with an ``agents`` artifact that carries every matching
entry (unrepresentable cards were rejected at ingest, so every card converts
to a protobuf Struct) or rejects it with a message: never an exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from a2a.server.agent_execution import RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
    TaskStatusUpdateEvent,
)
from google.protobuf.struct_pb2 import Struct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.registry.agent import RegistryExecutor
from tests.unit.registry.serve import churned_service

pytestmark = pytest.mark.asyncio
SERVICE = churned_service(steps=300, seed=9, default_agent_limit=1000)


class Recorder(EventQueue):
    """Keeps every event the executor enqueues."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def enqueue_event(self, event: Any) -> None:
        self.events.append(event)


def request(parts: list[Part]) -> RequestContext:
    message = Message(message_id="m-1", role=Role.ROLE_USER, parts=parts)
    return RequestContext(ServerCallContext(), request=SendMessageRequest(message=message))


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
_query_data = st.dictionaries(st.sampled_from(
    ["org", "unit", "agent", "kind", "status", "skill", "tag", "input", "output", "q", "name",
     "changed_since", "limit", "cursor", "card", "bogus"]), _json, max_size=4)
_words = st.lists(st.one_of(st.sampled_from(
    ["tag:work", "status:online", "limit:0", "limit:5", "kind:pool", "org:org1", "robot",
     "cursor:c1.xx", "card:false", "changed_since:nan", ":", "tag:"]), st.text(max_size=8)),
    max_size=4)


async def answer(parts: list[Part]) -> list[Any]:
    queue = Recorder()
    await RegistryExecutor(SERVICE).execute(request(parts), queue)
    return queue.events


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.none(), _query_data, _json), words=_words)
async def test_any_query_gets_an_answer_or_a_rejection(data: Any, words: list[str]) -> None:
    parts = [Part(text=" ".join(words))]
    if data is not None:
        part = Part()
        part.data.struct_value.update({"value": data} if not isinstance(data, dict) else data)
        parts.insert(0, part)
    events = await answer(parts)
    final = [e for e in events if isinstance(e, TaskStatusUpdateEvent)][-1]
    assert final.status.state in (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_REJECTED)


async def test_every_entry_travels_as_a_struct() -> None:
    """All entries, with their cards, in one answer: every card converts."""
    events = await answer([Part(text="card:true limit:1000")])
    artifacts = [e for e in events if hasattr(e, "artifact")]
    assert len(artifacts) == 1
    payload: Struct = artifacts[0].artifact.parts[0].data.struct_value
    items = payload["items"]
    assert payload["total"] == len(SERVICE.index.entries) == len(items)
    assert {item["ref"] for item in items} == set(SERVICE.index.entries)
