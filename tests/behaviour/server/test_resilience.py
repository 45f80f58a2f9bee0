"""Restarts: broker restart under client and agent; requests queued while an agent restarts;
many agents in one process."""

from __future__ import annotations

import asyncio

import pytest
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig, AgentHost
from tests.behaviour.conftest import requester_config, serve, text

pytestmark = pytest.mark.asyncio

DONE = TaskState.TASK_STATE_COMPLETED


async def test_client_and_agent_survive_broker_restart(broker: MosquittoProcess,
                                                       ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=300):
        async with A2AMqttClient(requester_config(broker.url, reply_first_timeout=10,
                                                  max_attempts=3, backoff=(0.5,))) as mqtt:
            t = mqtt.transport_for(ref)
            assert (await t.send_message(text("before"))).task.status.state == DONE
            broker.restart()
            # No new objects: both sides reconnect and resubscribe by themselves.
            response = await t.send_message(text("after"))
            assert response.task.status.state == DONE
            assert response.task.artifacts[0].parts[0].text == "after"


async def test_stream_in_progress_survives_broker_restart(broker: MosquittoProcess,
                                                          ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), session_expiry=300):
        async with A2AMqttClient(requester_config(broker.url, stream_idle_timeout=20)) as mqtt:
            stream = mqtt.transport_for(ref).send_message_streaming(
                text("through the outage", metadata={"delay": 2}))
            assert (await anext(stream)).WhichOneof("payload") == "task"
            broker.restart()
            rest = [e async for e in stream]
    assert rest[-1].status_update.status.state == DONE
    assert any(e.artifact_update.artifact.parts[0].text == "through the outage"
               for e in rest if e.WhichOneof("payload") == "artifact_update")


async def test_requests_sent_while_agent_restarts_are_served(broker: MosquittoProcess,
                                                             ref: AgentRef) -> None:
    config = {"session_expiry": 300}
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), **config):
        pass  # first run registers the persistent session and its subscription
    async with A2AMqttClient(requester_config(broker.url, reply_first_timeout=20)) as mqtt:
        t = mqtt.transport_for(ref)
        pending = [asyncio.create_task(t.send_message(text(f"queued {i}"))) for i in range(5)]
        await asyncio.sleep(0)  # let each task publish its request
        await mqtt.requester.barrier()  # ...and the broker has queued all five for the agent
        assert not any(p.done() for p in pending)
        executor = EchoExecutor()
        async with serve(broker.url, ref, executor, echo_card(), **config):
            results = await asyncio.wait_for(asyncio.gather(*pending), 20)
    assert sorted(r.task.artifacts[0].parts[0].text for r in results) == [
        f"queued {i}" for i in range(5)]
    assert executor.executions == 5


async def test_many_agents_in_one_process(broker: MosquittoProcess, unique_id: str) -> None:
    refs = [AgentRef("fleet", unique_id, f"agent-{i}") for i in range(25)]
    configs = [AgentConfig(ref=r, card=echo_card(), executor=EchoExecutor(),
                           connection=ConnectionSettings(url=broker.url),
                           session_expiry=0) for r in refs]
    async with AgentHost(configs):
        async with A2AMqttClient(requester_config(broker.url), org="fleet") as mqtt:
            assert {e.ref for e in mqtt.discovery.list(online=True)} == set(refs)
            responses = await asyncio.gather(*(
                mqtt.transport_for(r).send_message(text(str(r))) for r in refs))
    assert [r.task.artifacts[0].parts[0].text for r in responses] == [str(r) for r in refs]
