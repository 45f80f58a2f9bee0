"""The metrics page reads real processes: an example agent started with ``--metrics-port``
and a registry, scraped through ``--metrics-url``; known traffic gives known figures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from a2a.types.a2a_pb2 import GetTaskRequest
from a2a.utils.errors import TaskNotFoundError
from playwright.async_api import expect

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.broker.config import free_port
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
from a2a_mqtt.observability.metrics import DURATION_BUCKETS
from tests.behaviour.conftest import text
from tests.behaviour.dashboard.conftest import chromium_path

pytestmark = pytest.mark.asyncio

OK, ERRORS, MORE, REGISTRY_GETS = 12, 3, 5, 4


async def _ready(http: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait for a process's /readyz (it offers no other signal that it is up)."""
    async with asyncio.timeout(30):  # process start-up (imports) on a busy machine
        while True:
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            assert proc.poll() is None, "the process exited"
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture
async def processes(broker: MosquittoProcess, unique_id: str
                    ) -> AsyncIterator[tuple[AgentRef, str, str]]:
    """An echo agent and a registry, each its own process serving /metrics."""
    ref = AgentRef("metrics", "unit", unique_id.replace("_", "-")[-20:])
    agent_port, registry_port = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent",
                          str(ref), "--broker", broker.url, "--session-expiry", "0",
                          "--metrics-port", str(agent_port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "a2a_mqtt", "registry", "serve", "--broker",
                          broker.url, "--port", str(registry_port), "--no-agent"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    agent_url, registry_url = (f"http://127.0.0.1:{p}" for p in (agent_port, registry_port))
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            await _ready(http, agent_url, procs[0])
            await _ready(http, registry_url, procs[1])
        yield ref, agent_url, registry_url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def test_metrics_of_a_real_agent_and_registry(
        broker: MosquittoProcess, client: A2AMqttClient, processes: tuple[AgentRef, str, str],
        screenshots: Path) -> None:
    ref, agent_url, registry_url = processes
    agent = str(ref)
    transport = client.transport_for(ref)
    slowest = 0.0

    async def send(n: int) -> None:
        nonlocal slowest
        for i in range(n):
            started = time.perf_counter()
            reply = await transport.send_message(text(f"m{i}"))
            slowest = max(slowest, time.perf_counter() - started)
            assert reply.task.artifacts[0].parts[0].text == f"m{i}"

    await send(OK)
    for _ in range(ERRORS):
        with pytest.raises(TaskNotFoundError):
            await transport.get_task(GetTaskRequest(id="3b0f5f8e-9f5e-4c1e-8d43-000000000000"))
    async with httpx.AsyncClient(timeout=10.0) as http:
        for _ in range(REGISTRY_GETS):
            assert (await http.get(f"{registry_url}/agents")).status_code == 200

    async with DashboardServer(DashboardConfig(
            connection=ConnectionSettings(url=broker.url), port=0,
            metrics_urls=(f"{agent_url}/metrics", f"{registry_url}/metrics"))) as dash, \
            httpx.AsyncClient(base_url=dash.url, timeout=20.0) as http:
        first = (await http.get("/api/metrics")).json()
        assert first["available"] and all(s["ok"] for s in first["sources"])
        figures = first["summary"]["agents"][agent]
        total = OK + ERRORS
        assert (figures["requests"], figures["errors"]) == (total, ERRORS)
        assert figures["errorRate"] == pytest.approx(ERRORS / total)
        p = figures["latency"]
        assert 0 < p["p50"] <= p["p95"] <= p["p99"]
        # The server's time is inside the requester's round trip, so every percentile
        # lies at or below the first bucket bound above the slowest round trip seen.
        assert p["p99"] <= min(b for b in DURATION_BUCKETS if b >= slowest)
        assert first["summary"]["fleet"]["requests"] == total
        assert first["summary"]["registryCards"].get("online", 0) >= 1
        assert first["summary"]["httpRequests"]["registry"] == REGISTRY_GETS

        # A rate: the change of the cumulative count between two scrapes.
        await send(MORE)
        second = (await http.get("/api/metrics")).json()
        grown = second["summary"]["agents"][agent]["requests"] - figures["requests"]
        assert grown == MORE
        assert grown / (second["at"] - first["at"]) > 0

        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path(),
                                               args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{dash.url}/#/metrics?every=1")
            row = page.locator(f'#metrics-agents tr[data-agent="{agent}"]')
            cells = row.locator("td")
            await expect(cells.nth(3)).to_have_text(str(total + MORE), timeout=15_000)
            await expect(cells.nth(4)).to_have_text(f"{ERRORS / (total + MORE) * 100:.1f} %")
            for i in (5, 6, 7):  # p50, p95, p99
                await expect(cells.nth(i)).to_contain_text("ms")
            await expect(cells.nth(1)).to_contain_text("/s")  # a rate after the 2nd poll
            body = page.locator("#metrics-body")
            await expect(body).to_contain_text("cards online")
            await expect(body).to_contain_text("registry requests")
            await page.screenshot(path=screenshots / "metrics-real.png", full_page=True)
            await browser.close()
            assert not errors, errors


