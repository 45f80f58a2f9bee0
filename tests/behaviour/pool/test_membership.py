"""Leaving a pool: what a member's persistent session keeps after a graceful stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig, AgentServer
from tests.behaviour.server.test_bad_input import raw_peer

NO_MATCHING_SUBSCRIBERS = 0x10


@pytest.mark.asyncio
@pytest.mark.parametrize("leave", [True, False])
async def test_a_member_that_leaves_its_pool_stops_collecting_its_requests(
        broker: MosquittoProcess, unique_id: str, tmp_path: Path, leave: bool) -> None:
    ref = AgentRef("pools", unique_id, "m0")
    config = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), pool="p",
                         pool_dispatch="claim",
                         task_store_url=f"sqlite:///{tmp_path}/p.db", session_expiry=300,
                         leave_pool_on_stop=leave)
    async with AgentServer(config):
        pass
    # The member is gone; only its persistent session can still match the pool topic.
    async with raw_peer(broker.url, unique_id) as peer:
        pool_code = await peer.transport.publish(
            request_topic(AgentRef("pools", unique_id, "p", pool=True)), b"{}", qos=1)
        own_code = await peer.transport.publish(request_topic(ref), b"{}", qos=1)
    assert (pool_code == NO_MATCHING_SUBSCRIBERS) is leave
    assert own_code != NO_MATCHING_SUBSCRIBERS  # its own requests still wait for it
