"""Silent broker drops are prevented in our configs and detected where they happen anyway."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess, render_config
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, Subscription
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import serve


def test_generated_configs_never_cap_queues_by_count() -> None:
    text = render_config(BrokerConfig(port=1883, state_dir=Path("/tmp/x")))
    assert "max_queued_messages 0" in text.splitlines()


@pytest.mark.asyncio
async def test_drops_on_a_capped_broker_are_logged_and_counted(
        broker_factory: Callable[..., MosquittoProcess], ref: AgentRef, unique_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    capped = broker_factory(max_queued_messages=5, sys_interval=1)
    url = BrokerURL.parse(capped.url)
    topic = f"test/drops/{unique_id}"
    async with serve(capped.url, ref, EchoExecutor(), echo_card()) as agent:
        # A persistent session that goes away: the broker queues for it, up to the cap.
        sleeper = Mqtt5Transport(ConnectOptions(url=url, client_id=f"sleeper-{unique_id}",
                                               clean_start=True, session_expiry_interval=300))
        await sleeper.subscribe(Subscription(topic, qos=1), lambda _m: None)
        async with sleeper:
            pass
        async with Mqtt5Transport(ConnectOptions(url=url, client_id=f"pub-{unique_id}")) as pub:
            with caplog.at_level(logging.WARNING, logger="a2a_mqtt.broker"):
                for i in range(30):
                    await pub.publish(topic, f"m{i}".encode(), qos=1)
                seen = await agent.drops.wait_for(20, timeout=15)
    assert seen >= 20  # 30 sent, at most 5 (+1 in flight) queued
    assert any("dropped" in r.getMessage() for r in caplog.records)
