"""A pool on a secure broker: members consume the pool's requests under their own
identities (the $share probe's extra connection is refused, so they claim), and
nobody else can read them."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker.secure import SecureBroker
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig, AgentServer
from tests.behaviour.access.conftest import (
    CAST,
    Line,
    agent_settings,
    raw,
    requester_settings,
)
from tests.behaviour.access.test_attacks import assert_receives_nothing
from tests.behaviour.conftest import requester_config, text

pytestmark = pytest.mark.asyncio

POOL = AgentRef.parse("acme/line1/pool/presses")


async def test_pool_members_serve_under_their_identities(
        secure: SecureBroker, line: Line, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/pool.db"
    async with AsyncExitStack() as stack:
        for name in ("member-a", "member-b"):
            who = CAST[name]
            await stack.enter_async_context(AgentServer(AgentConfig(
                ref=who.ref, card=echo_card(), executor=EchoExecutor(), session_expiry=0,
                pool="presses", task_store_url=store,
                **agent_settings(secure.credentials(who)))))
        # Another requester of the unit (the line's operator holds its own Client ID).
        client = await stack.enter_async_context(A2AMqttClient(requester_config(
            secure.url, **requester_settings(secure, CAST["spy-requester"]))))
        await client.discovery.resolve(POOL, timeout=10)
        t = client.transport_for(POOL)
        responses = await asyncio.gather(*(t.send_message(text(f"job {i}")) for i in range(6)))
        assert [r.task.artifacts[0].parts[0].text for r in responses] == [
            f"job {i}" for i in range(6)]
        # The rogue agent is no member: the pool's requests stay closed to it.
        spy = raw(secure, "rogue-agent")
        await spy.connect()
        try:
            await assert_receives_nothing(spy, request_topic(POOL), line)
        finally:
            await spy.disconnect()
    await line.call()
