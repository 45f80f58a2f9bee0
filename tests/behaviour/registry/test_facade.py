"""A2AMqttClient resolving through a RegistryClient instead of reading every retained card."""

from __future__ import annotations

import pytest
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.registry import RegistryClient
from a2a_mqtt.server import AgentConfig, AgentHost
from tests.behaviour.conftest import requester_config, text
from tests.behaviour.registry.conftest import start_registry


@pytest.mark.asyncio
async def test_client_resolves_and_calls_through_a_registry(broker: MosquittoProcess,
                                                            unique_id: str) -> None:
    echo = AgentRef("facade", unique_id, "echo")
    config = AgentConfig(ref=echo, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), session_expiry=0)
    async with AgentHost([config]), start_registry(broker.url) as registry, \
            A2AMqttClient(requester_config(broker.url),
                          registry=RegistryClient(registry.url)) as mqtt:
        # No retained-card subscription on this connection: the registry answers.
        assert mqtt.discovery.entries() == []
        found = await mqtt.find(tag="echo", unit=unique_id)
        client = await mqtt.connect(echo)
        events = [e async for e in client.send_message(text("via registry"))]
    assert found.ref == echo
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
