"""Fixtures for the dashboard: a broker, the dashboard (with its embedded registry),
example agents, and a real Chromium driven by Playwright.

Chromium is Debian's package (``scripts/bootstrap --tests`` installs it), launched through
``executable_path``: no browser is ever downloaded. A missing browser *fails* the
tests with an install hint. Screenshots go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
from a2a_mqtt.examples import EXAMPLES
from tests.behaviour.conftest import serve

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"


def chromium_path() -> str:
    for candidate in (os.environ.get("A2A_MQTT_CHROMIUM"), shutil.which("chromium"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Debian's chromium is needed for the dashboard browser tests: "
                "apt-get install -y chromium (scripts/bootstrap --tests does)", pytrace=False)


class Fleet:
    """What one test runs against: broker, dashboard, agents it may add."""

    def __init__(self, broker: MosquittoProcess, dashboard: DashboardServer,
                 stack: AsyncExitStack, prefix: str) -> None:
        self.broker = broker
        self.dashboard = dashboard
        self.stack = stack
        self.prefix = prefix
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return self.dashboard.url

    async def agent(self, example: str, name: str | None = None, **config: Any) -> AgentRef:
        ex = EXAMPLES[example]
        ref = AgentRef("fleet", self.prefix, name or example)
        await self.stack.enter_async_context(serve(self.broker.url, ref, ex.executor(),
                                                   ex.card(), **config))
        return ref

    def process_agent(self, example: str, name: str, *extra: str
                      ) -> tuple[AgentRef, subprocess.Popen[bytes]]:
        """An example agent in its own process (so a test can ``kill -9`` it)."""
        ref = AgentRef("fleet", self.prefix, name)
        proc = subprocess.Popen(
            [sys.executable, "-m", "a2a_mqtt", "example", example, "--agent", str(ref),
             "--broker", self.broker.url, "--session-expiry", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Span batches leave at once rather than every 5 s (the SDK's default).
            env={**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "100"})
        self.processes.append(proc)
        return ref, proc


@pytest_asyncio.fixture
async def fleet(broker: MosquittoProcess, unique_id: str) -> AsyncIterator[Fleet]:
    async with AsyncExitStack() as stack:
        dashboard = await stack.enter_async_context(DashboardServer(DashboardConfig(
            connection=ConnectionSettings(url=broker.url), port=0, reply_timeout=5.0,
            stream_idle_timeout=60.0)))
        fleet = Fleet(broker, dashboard, stack, unique_id.replace("_", "-")[-20:])
        try:
            yield fleet
        finally:
            for proc in fleet.processes:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)


@pytest.fixture
def screenshots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest_asyncio.fixture
async def page(fleet: Fleet) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                           args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1360, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        await browser.close()
        assert not errors, f"the page raised: {errors}"
