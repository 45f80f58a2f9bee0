"""ubsp-v1 end to end: every operation round-trips as JWE, a third party sees only JWE,
recipient mismatch is -32005, and nothing falls back to plaintext."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from a2a.client import Client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTasksRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.errors import PushNotificationNotSupportedError

from a2a_mqtt.binding.codes import TransportProtocolError
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.security.e2e import E2EContext
from a2a_mqtt.security.keys import new_encryption_key
from a2a_mqtt.server import AgentConfig, AgentServer
from tests.behaviour.conftest import requester_config, serve, text
from tests.behaviour.security.conftest import Observer

pytestmark = pytest.mark.asyncio

SECRET = "the-secret-recipe-42"


def is_jwe(payload: bytes) -> bool:
    parts = payload.split(b".")
    return len(parts) == 5 and payload.startswith(b"eyJ") and b"{" not in payload


def e2e_for(ref: AgentRef | str) -> E2EContext:
    return E2EContext(identity=str(ref), key=new_encryption_key())


@pytest_asyncio.fixture
async def agent(broker: MosquittoProcess, ref: AgentRef) -> AsyncIterator[AgentServer]:
    executor = EchoExecutor()
    async with serve(broker.url, ref, executor, echo_card(), e2e=e2e_for(ref),
                     extended_card=echo_card()) as server:
        yield server


@pytest_asyncio.fixture
async def sealed(broker: MosquittoProcess, unique_id: str) -> AsyncIterator[A2AMqttClient]:
    rid = f"req-{unique_id}"
    config = requester_config(broker.url, org="test", unit="clients", requester_id=rid,
                              e2e=e2e_for(AgentRef("test", "clients", rid)))
    async with A2AMqttClient(config) as mqtt:
        yield mqtt


async def _client(mqtt: A2AMqttClient, ref: AgentRef, *, streaming: bool) -> Client:
    return mqtt.client_for(await mqtt.discovery.resolve(ref), streaming=streaming)


async def test_every_operation_round_trips_and_the_broker_sees_only_jwe(
        agent: AgentServer, sealed: A2AMqttClient, observer: Observer, ref: AgentRef) -> None:
    unary = await _client(sealed, ref, streaming=False)
    events = [e async for e in unary.send_message(text(SECRET))]
    task = events[-1].task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.artifacts[0].parts[0].text == SECRET
    streaming = await _client(sealed, ref, streaming=True)
    kinds = [e.WhichOneof("payload") async for e in streaming.send_message(text(SECRET))]
    assert kinds[0] == "task" and "artifact_update" in kinds
    got = await unary.get_task(GetTaskRequest(id=task.id))
    assert got.id == task.id and got.artifacts[0].parts[0].text == SECRET
    listed = await unary.list_tasks(ListTasksRequest())
    assert task.id in {t.id for t in listed.tasks}
    slow = text("slow", metadata={"delay": 30})
    pending = asyncio.create_task(_first_task_id(streaming, slow))
    slow_id = await asyncio.wait_for(pending, 10)
    resubscribed = streaming.subscribe(SubscribeToTaskRequest(id=slow_id))
    first = await anext(resubscribed)
    assert first.task.id == slow_id
    canceled = await unary.cancel_task(CancelTaskRequest(id=slow_id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    await resubscribed.aclose()
    card = await unary.get_extended_agent_card(GetExtendedAgentCardRequest())
    assert card.name == "Echo"
    push = GetTaskPushNotificationConfigRequest(task_id=task.id, id="x")
    with pytest.raises(PushNotificationNotSupportedError):  # an error reply, sealed too
        await unary.get_task_push_notification_config(push)
    # The third party saw requests and replies of all of that, and only JWE: the nine
    # requests, and every reply to them down to each one's last.
    requests = await observer.on("$a2a/v1/request/", at_least=9)
    await observer.replies_to(requests)
    assert all(is_jwe(p) for p in observer.payloads), [
        p[:60] for p in observer.payloads if not is_jwe(p)]
    assert not any(SECRET.encode() in p for p in observer.payloads)
    assert {m.properties.user_property("a2a-security-profile") for m in observer.messages} == {
        "ubsp-v1"}
    assert {m.properties.content_type for m in observer.messages} == {"application/jose"}


async def _first_task_id(client: Client, request: object) -> str:
    async for event in client.send_message(request):  # type: ignore[arg-type]
        if event.HasField("task"):
            return event.task.id
    raise AssertionError("no task")


async def test_recipient_mismatch_is_32005(agent: AgentServer, sealed: A2AMqttClient,
                                           broker: MosquittoProcess, ref: AgentRef,
                                           unique_id: str) -> None:
    other = AgentRef("test", "unit", f"other-{unique_id}")
    async with serve(broker.url, other, EchoExecutor(), echo_card(), e2e=e2e_for(other)) as b:
        e2e = sealed.requester.config.e2e
        assert e2e is not None
        # The requester believes the agent's key is the other agent's: encrypted to B, sent to A.
        e2e.learn(str(ref), b.card)
        with pytest.raises(TransportProtocolError) as raised:
            await sealed.transport_for(ref).send_message(text(SECRET))
    assert raised.value.kind.code == -32005
    assert "recipient mismatch" in raised.value.message


async def test_no_plaintext_fallback(agent: AgentServer, broker: MosquittoProcess,
                                     ref: AgentRef, observer: Observer) -> None:
    executor = agent.config.executor
    assert isinstance(executor, EchoExecutor)
    # A plaintext request to an agent that requires ubsp-v1 is refused, unprocessed.
    async with A2AMqttClient(requester_config(broker.url)) as plain:
        with pytest.raises(TransportProtocolError, match="requires ubsp-v1") as raised:
            await plain.transport_for(ref, agent.card).send_message(text(SECRET))
    assert raised.value.kind.code == -32005
    assert executor.executions == 0
    # A requester that cannot find a key for the agent sends nothing at all.
    async with A2AMqttClient(requester_config(
            broker.url, org="test", unit="clients", requester_id="lonely",
            e2e=e2e_for("test/clients/lonely"))) as lonely:
        published = len(observer.messages)
        with pytest.raises(TransportProtocolError, match="refusing to send plaintext"):
            await lonely.transport_for(ref).send_message(text(SECRET))
    assert not any(SECRET.encode() in p for p in observer.payloads[published:])


async def test_context_must_belong_to_the_identity(ref: AgentRef) -> None:
    with pytest.raises(ConfigError, match="ubsp-v1 context"):
        requester_config("mqtt://127.0.0.1:1", org="test", unit="clients", requester_id="a",
                         e2e=e2e_for("test/clients/b"))
    with pytest.raises(ConfigError, match="ubsp-v1 context"):
        AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                    e2e=e2e_for("test/unit/someone-else"))
