"""Bad input around pools: each gets the error the profile defines, nothing crashes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy
from a2a.types.a2a_pb2 import GetTaskRequest, TaskState
from a2a.utils.errors import TaskNotFoundError
from sqlalchemy.ext.asyncio import create_async_engine

from a2a_mqtt.binding.codes import TransportProtocolError
from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig, AgentHost
from a2a_mqtt.transport import (
    ConnectOptions,
    IncomingMessage,
    Mqtt5Transport,
    PublishProperties,
    Subscription,
)
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import text
from tests.behaviour.server.test_bad_input import raw_peer, rpc


@asynccontextmanager
async def members(url: str, unit: str, tmp: Path, n: int = 2,
                  store: str | None = None) -> AsyncIterator[AgentRef]:
    configs = [AgentConfig(ref=AgentRef("pools", unit, f"m{i}"), card=echo_card(),
                           executor=EchoExecutor(), connection=ConnectionSettings(url=url),
                           pool="p",
                           pool_dispatch="claim",
                           task_store_url=store or f"sqlite:///{tmp}/p.db",
                           session_expiry=0) for i in range(n)]
    async with AgentHost(configs):
        yield AgentRef("pools", unit, "p", pool=True)


@pytest.mark.asyncio
async def test_malformed_task_id_to_a_pool(broker: MosquittoProcess, unique_id: str,
                                           tmp_path: Path) -> None:
    async with members(broker.url, unique_id, tmp_path) as pool, \
            raw_peer(broker.url, unique_id) as peer:
        await peer.send(request_topic(pool), rpc("SendMessage", {"message": {
            "messageId": "m", "role": "ROLE_USER", "taskId": "not-a-uuid",
            "parts": [{"text": "x"}]}}), user_properties=(("a2a-version", "1.0"),))
        msg = await asyncio.wait_for(peer.replies.get(), 10)
        # Exactly one member answers (the others lost the claim).
        await peer.transport.publish(peer.reply_topic, b"{}", qos=1,
                                     properties=PublishProperties(correlation_data=b"sync"))
        sync = await asyncio.wait_for(peer.replies.get(), 10)
    body = json.loads(msg.payload)
    assert body["error"]["code"] == -32005
    assert body["error"]["data"] == {"a2a_error": "transport_protocol_error"}
    assert msg.properties.user_property("a2a-responder-agent-id") in {"m0", "m1"}
    assert sync.properties.correlation_data == b"sync"


@pytest.mark.asyncio
async def test_get_task_no_member_knows(broker: MosquittoProcess, unique_id: str,
                                        tmp_path: Path, client: A2AMqttClient) -> None:
    async with members(broker.url, unique_id, tmp_path) as pool:
        t = client.transport_for(pool)
        with pytest.raises(TaskNotFoundError):
            await t.get_task(GetTaskRequest(id="7c9e6679-7425-40de-944b-e07fc1f90ae7"))
        # ...and the pool still serves.
        done = await t.send_message(text("still fine"))
        assert done.task.status.state == TaskState.TASK_STATE_COMPLETED


@pytest.mark.asyncio
async def test_pooled_reply_without_responder_id_is_a_protocol_error(
        broker: MosquittoProcess, unique_id: str, client: A2AMqttClient) -> None:
    pool = AgentRef("pools", unique_id, "rogue", pool=True)
    rogue = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(broker.url),
                                         client_id=f"pools/{unique_id}/rogue-member"))

    def answer(msg: IncomingMessage) -> None:
        asyncio.get_running_loop().create_task(rogue.publish(
            msg.properties.response_topic or "",
            b'{"jsonrpc":"2.0","id":"x","result":{"task":{"id":"t","status":'
            b'{"state":"TASK_STATE_COMPLETED"}}}}',
            qos=1, properties=PublishProperties(
                correlation_data=msg.properties.correlation_data)))

    await rogue.subscribe(Subscription(request_topic(pool), qos=1), answer)
    async with rogue:
        with pytest.raises(TransportProtocolError, match="a2a-responder-agent-id"):
            await client.transport_for(pool).send_message(text("who answers?"))


def test_pool_members_need_a_shared_store() -> None:
    with pytest.raises(ConfigError, match="share a task store"):
        AgentConfig(ref=AgentRef("o", "u", "a"), card=echo_card(), executor=EchoExecutor(),
                    pool="p")


@pytest.mark.asyncio
async def test_subscribe_on_one_member_streams_a_task_running_on_another(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path,
        client: A2AMqttClient, store_url: str) -> None:
    from a2a.types.a2a_pb2 import ListTasksRequest, SubscribeToTaskRequest

    async with members(broker.url, unique_id, tmp_path, store=store_url) as pool:
        t = client.transport_for(pool)
        stream = t.send_message_streaming(text("long", metadata={"delay": 1.5}))
        first = await anext(stream)
        task_id = first.task.id
        runner = client.requester.route(pool, task_id)
        other = AgentRef(pool.org, pool.unit, "m1" if runner.name == "m0" else "m0")
        # Ask the member that is NOT running it: the shared store's event log carries it.
        remote = client.transport_for(other)
        events = [e async for e in remote.subscribe(SubscribeToTaskRequest(id=task_id))]
        rest = [e async for e in stream]
        # Any member lists and reads the tasks every member ran.
        more = await asyncio.gather(*(t.send_message(text(f"n{i}")) for i in range(6)))
        listed = await client.transport_for(other).list_tasks(ListTasksRequest())
    assert events[0].task.id == task_id
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert any(e.WhichOneof("payload") == "artifact_update" for e in events)
    assert rest[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert {r.task.id for r in more} | {task_id} <= {x.id for x in listed.tasks}


@pytest.mark.asyncio
async def test_a_claim_store_failure_is_answered_not_dropped(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path) -> None:
    # The claims table disappears under running members: nobody can claim, so
    # somebody must say so instead of leaving the requester to time out.
    async with members(broker.url, unique_id, tmp_path) as pool, \
            raw_peer(broker.url, unique_id) as peer:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/p.db")
        async with engine.begin() as conn:
            await conn.execute(sqlalchemy.text("DROP TABLE a2a_mqtt_request_claims"))
        await engine.dispose()
        await peer.send(request_topic(pool), rpc("GetTask", {"id": "unknown"}),
                        user_properties=(("a2a-version", "1.0"),))
        msg = await asyncio.wait_for(peer.replies.get(), 20)
    body = json.loads(msg.payload)
    assert body["error"]["code"] == -32004, body  # responder_unavailable: retryable
    assert "task store unreachable" in body["error"]["message"]
