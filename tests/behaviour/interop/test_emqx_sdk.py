"""Interoperability both ways with EMQX's reference SDK ``a2a-over-mqtt`` 0.1.0."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from a2a.types.a2a_pb2 import TaskState
from a2a_over_mqtt import (
    A2ARequest,
    MqttConfig,
    Requester,
    Responder,
    TopicSpace,
    build_card,
)

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.conftest import requester_config, serve, text

pytestmark = [pytest.mark.asyncio, pytest.mark.interop]


def _mqtt(broker: MosquittoProcess) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=broker.port)


async def test_emqx_requester_streams_from_our_agent(broker: MosquittoProcess,
                                                     ref: AgentRef) -> None:
    executor = EchoExecutor()
    async with serve(broker.url, ref, executor, echo_card()):
        requester = Requester(_mqtt(broker), TopicSpace(org=ref.org, unit=ref.unit),
                              requester_id="emqx-req", first_reply_timeout=5,
                              stream_idle_timeout=5, max_attempts=1)
        request = A2ARequest(text="hello from emqx", request_id="req-1")
        replies = [item async for item in requester.stream(ref.name, request.to_json(),
                                                            uuid.uuid4().hex)]
    kinds = [kind for kind, _ in replies]
    assert kinds[0] == "submitted"
    assert ("artifact", "hello from emqx") in replies
    assert kinds[-1] == "terminal"
    assert "timeout" not in kinds and "error" not in kinds
    assert executor.executions == 1


async def test_emqx_retry_with_same_task_id_is_deduplicated(broker: MosquittoProcess,
                                                            ref: AgentRef) -> None:
    executor = EchoExecutor()
    async with serve(broker.url, ref, executor, echo_card()):
        requester = Requester(_mqtt(broker), TopicSpace(org=ref.org, unit=ref.unit),
                              requester_id="emqx-req", first_reply_timeout=5,
                              stream_idle_timeout=5, max_attempts=1)
        request = A2ARequest(text="only once", request_id="req-1")
        first = [k async for k, _ in requester.stream(ref.name, request.to_json(), "corr-a")]
        second = [k async for k, _ in requester.stream(ref.name, request.to_json(), "corr-b")]
    assert first[-1] == second[-1] == "terminal"
    assert executor.executions == 1


class _EmqxEcho(Responder):
    async def on_request(self, request: A2ARequest, stream: object) -> str:
        await stream(f"working on {request.text}")  # type: ignore[operator]
        return request.text.upper()


@pytest_asyncio.fixture
async def emqx_responder(broker: MosquittoProcess, unique_id: str
                         ) -> AsyncIterator[AgentRef]:
    ref = AgentRef("emqx", "interop", unique_id)
    responder = _EmqxEcho(agent_id=ref.name, mqtt=_mqtt(broker),
                          topics=TopicSpace(org=ref.org, unit=ref.unit),
                          card=build_card(name="EMQX echo", description="upper-cases",
                                          url=broker.url))
    task = asyncio.create_task(responder.run(), name="emqx-responder")
    # Ready once its card is retained: it subscribes to requests before publishing it.
    async with A2AMqttClient(requester_config(broker.url), org=ref.org) as probe:
        await probe.discovery.resolve(ref, timeout=10)
    yield ref
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_our_client_streams_from_emqx_responder(emqx_responder: AgentRef,
                                                      client: A2AMqttClient) -> None:
    t = client.transport_for(emqx_responder)
    events = [e async for e in t.send_message_streaming(text("abc"))]
    states = [TaskState.Name(e.status_update.status.state) for e in events
              if e.WhichOneof("payload") == "status_update"]
    artifacts = [e.artifact_update.artifact.parts[0].text for e in events
                 if e.WhichOneof("payload") == "artifact_update"]
    assert states[0] == "TASK_STATE_SUBMITTED"
    assert "TASK_STATE_WORKING" in states
    assert states[-1] == "TASK_STATE_COMPLETED"
    assert artifacts == ["ABC"]


async def test_our_unary_send_folds_emqx_stream_into_task(emqx_responder: AgentRef,
                                                          client: A2AMqttClient) -> None:
    response = await client.transport_for(emqx_responder).send_message(text("xyz"))
    assert response.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert response.task.artifacts[0].parts[0].text == "XYZ"


async def test_emqx_card_is_discoverable_with_its_schema_problem_reported(
        emqx_responder: AgentRef, client: A2AMqttClient) -> None:
    await client.requester.barrier()
    entry = client.discovery.get(emqx_responder)
    assert entry is not None and entry.online and entry.card is not None
    assert any("tags" in p for p in entry.problems)
