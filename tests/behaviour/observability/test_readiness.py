"""/readyz follows the broker: false within the keepalive window after it stops, true
after it returns; the log has one line for the loss and one for the reconnect."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.gateway import GatewayConfig, GatewayServer
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.host import AgentHost
from tests.behaviour.observability.scrape import scrape
from tests.behaviour.registry.conftest import start_registry

pytestmark = pytest.mark.asyncio

KEEPALIVE = 4


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    response = await http.get(f"{url}/readyz")
    assert response.status_code in (200, 503), response.text
    body = response.json()
    assert body["ready"] is (response.status_code == 200)
    return bool(body["ready"])


async def _until(http: httpx.AsyncClient, urls: list[str], want: bool, within: float) -> None:
    """Poll the probes (what a kubelet does) until all say ``want``; fail after ``within``."""
    async with asyncio.timeout(within):
        while not all([await _ready(http, u) == want for u in urls]):
            await asyncio.sleep(0.05)


def _lines(caplog: pytest.LogCaptureFixture, client_id: str, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("a2a_mqtt.transport") and r.getMessage().startswith(
                f"{client_id}: ") and words in r.getMessage()]


async def test_readiness_follows_the_broker(broker: MosquittoProcess, ref: AgentRef,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="a2a_mqtt")
    agent = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                        connection=ConnectionSettings(url=broker.url, keepalive=KEEPALIVE),
                        session_expiry=0)
    async with (AgentHost([agent], observability=ObservabilityConfig(http_port=0)) as host,
                GatewayServer(GatewayConfig(connection=ConnectionSettings(url=broker.url), port=0,
                                            shutdown_grace=1.0)) as gw,
                start_registry(broker.url) as registry,
                httpx.AsyncClient(timeout=5.0) as http):
        urls = [host.metrics_url, gw.url, registry.url]
        await _until(http, urls, True, 10)
        assert (await http.get(f"{host.metrics_url}/healthz")).status_code == 200

        await asyncio.to_thread(broker.stop)
        # The broker closed the connections: every probe says so within the keepalive
        # window (1.5 x keepalive is the bound for a silent network loss).
        await _until(http, urls, False, 1.5 * KEEPALIVE)
        for url in urls:  # alive all the same: liveness does not follow the broker
            assert (await http.get(f"{url}/healthz")).status_code == 200
        down = await scrape(http, host.metrics_url)
        assert down.value("a2a_mqtt_ready", a2a_service="agent") == 0
        body = (await http.get(f"{host.metrics_url}/readyz")).json()
        assert body["checks"] == {f"agent {ref}": False}

        await asyncio.to_thread(broker.start)
        await _until(http, urls, True, 20)  # the reconnect backoff tops out at 10 s
        up = await scrape(http, host.metrics_url)
        assert up.value("a2a_mqtt_ready", a2a_service="agent") == 1
        # The transport's stats hook: one loss, one reconnect, the time away.
        me = {"messaging_client_id": ref.client_id}
        assert up.value("messaging_client_connects_total", **me) == 2
        assert up.value("messaging_client_reconnects_total", **me) == 1
        assert up.value("messaging_client_disconnects_total", **me) == 1
        assert up.value("messaging_client_disconnected_duration_seconds_count") == 1
        assert up.value("messaging_client_disconnected_duration_seconds_sum") > 0
        gateway = await scrape(http, gw.url)
        assert gateway.value("messaging_client_reconnects_total") == 1
        registry_up = await scrape(http, registry.url)
        assert registry_up.value("messaging_client_reconnects_total") == 1

    client_ids = [ref.client_id, gw.gateway.mqtt.requester.identity.client_id]
    for client_id in client_ids:
        lost = _lines(caplog, client_id, "lost")
        assert len(lost) == 1, (client_id, lost)
        assert "reason" in lost[0] or ":" in lost[0].split("lost", 1)[1]
        again = _lines(caplog, client_id, "reconnected to")
        assert len(again) == 1, (client_id, again)
        assert "after" in again[0]  # how long it was away
