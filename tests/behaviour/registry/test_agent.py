"""The registry's A2A face: a stock a2a-sdk Client asks ``find-agents`` over MQTT."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from a2a.client import Client
from a2a.types.a2a_pb2 import (
    AgentCard,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding.card import parse_card
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.registry.agent import SKILL_ID
from tests.behaviour.conftest import requester_config
from tests.behaviour.registry.conftest import Publisher, start_registry
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio


def request(*parts: Part) -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                                              parts=list(parts)))


def data_part(value: dict[str, Any]) -> Part:
    part = Part(media_type="application/json")
    part.data.struct_value.update(value)
    return part


async def ask(client: Client, *parts: Part) -> tuple[int, dict[str, Any] | None, str]:
    """Final state, the data of the ``agents`` artifact, and the status text."""
    state, data, text = TaskState.TASK_STATE_UNSPECIFIED, None, ""
    event: StreamResponse
    async for event in client.send_message(request(*parts)):
        if event.HasField("task"):
            state = event.task.status.state
            for artifact in event.task.artifacts:
                data = MessageToDict(artifact.parts[0].data)
        elif event.HasField("artifact_update"):
            data = MessageToDict(event.artifact_update.artifact.parts[0].data)
        elif event.HasField("status_update"):
            state = event.status_update.status.state
            message = event.status_update.status.message
            text = " ".join(p.text for p in message.parts) or text
    return state, data, text


async def test_find_agents_answers_a_stock_client(broker: MosquittoProcess,
                                                  publisher: Publisher, unique_id: str) -> None:
    refs = [AgentRef("ask", unique_id, f"a{i}") for i in range(5)]
    for i, ref in enumerate(refs):
        tags = ["inspection"] if i % 2 == 0 else ["logistics"]
        skills = [{"id": "s", "name": "S", "description": "conveyor work", "tags": tags}]
        await publisher.card(ref, card_bytes(ref, skills=skills),
                             status="online" if i < 4 else "offline")
    me = AgentRef("a2a-mqtt", "registry", unique_id)
    async with start_registry(broker.url, agent_ref=me) as registry, \
            httpx.AsyncClient(base_url=registry.url) as http, \
            A2AMqttClient(requester_config(broker.url), discover=False) as mqtt:
        card: AgentCard = parse_card((await http.get(f"/cards/{me}")).content)
        assert [s.id for s in card.skills] == [SKILL_ID]
        client = mqtt.client_for(card)  # a2a-sdk's own Client over our MQTT transport

        state, data, text = await ask(client, Part(text="tag:inspection status:online"))
        assert state == TaskState.TASK_STATE_COMPLETED and data is not None
        assert [i["ref"] for i in data["items"]] == [str(refs[0]), str(refs[2])]
        assert data["total"] == 2 and data["next"] is None
        assert data["items"][0]["card"]["skills"][0]["tags"] == ["inspection"]

        state, data, _ = await ask(client, data_part(
            {"org": "ask", "unit": unique_id, "tag": ["logistics"], "limit": 1, "card": False}))
        assert state == TaskState.TASK_STATE_COMPLETED and data is not None
        assert data["total"] == 2 and [i["ref"] for i in data["items"]] == [str(refs[1])]
        assert "card" not in data["items"][0] and data["next"]

        state, data, _ = await ask(client, Part(text=f"unit:{unique_id} conveyor"))
        assert data is not None and data["total"] == 5

        state, data, text = await ask(client, data_part({"status": "asleep"}))
        assert state == TaskState.TASK_STATE_REJECTED and data is None
        assert "bad query: status must be one of online, offline, unknown" in text
