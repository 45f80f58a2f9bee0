"""A flood of requests whose Response Topic may not be answered (issue #9 follow-up):
every one is counted, the log stays bounded, and the agent keeps serving."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.host import AgentHost
from tests.behaviour.observability.scrape import scrape
from tests.behaviour.server.test_bad_input import raw_peer
from tests.behaviour.server.test_hostile_input import V1, good_send

pytestmark = pytest.mark.asyncio

FLOOD = 1000
REFUSED = "a2a_mqtt_server_refused_total"


async def test_a_thousand_refused_requests_log_a_bounded_number_of_lines(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    config = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), session_expiry=0)
    # 50 distinct hostile topics (more than the per-interval budget of new keys), 20 each.
    topics = [f"plain/victim/{i}" if i % 2 else f"$a2a/v1/request/test/unit/victim{i}"
              for i in range(50)]
    with caplog.at_level(logging.WARNING, logger="a2a_mqtt.server"):
        async with (AgentHost([config], observability=ObservabilityConfig(http_port=0)) as host,
                    raw_peer(broker.url, unique_id) as peer,
                    httpx.AsyncClient(timeout=10.0) as http):
            good = peer.reply_topic
            for start in range(0, FLOOD, 100):
                batch = []
                for n in range(start, start + 100):
                    peer.reply_topic = topics[n % len(topics)]
                    batch.append(peer.send(request_topic(ref), good_send(f"h{n}"),
                                           user_properties=V1))
                await asyncio.gather(*batch)
            peer.reply_topic = good
            await peer.send(request_topic(ref), good_send("still here"), user_properties=V1)
            reply = await peer.reply()
            assert reply["result"]["task"]["artifacts"][0]["parts"][0]["text"] == "still here"
            counted = 0.0
            for _ in range(100):  # the counter is read at scrape time: await it reaching FLOOD
                counted = (await scrape(http, host.metrics_url)).value(
                    REFUSED, a2a_agent=str(ref))
                if counted >= FLOOD:
                    break
                await asyncio.sleep(0.05)
            metrics = await scrape(http, host.metrics_url)
    assert counted == FLOOD
    assert metrics.value(REFUSED, a2a_agent=str(ref), a2a_reason="reply_topic_outside") == FLOOD
    assert peer.replies.empty()  # none of the hostile requests was answered
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    # One line per new (requester, topic) key up to the budget (10 a minute), plus at
    # most one summary: not one per message.
    assert 1 <= len(lines) <= 11, [r.getMessage() for r in lines]
