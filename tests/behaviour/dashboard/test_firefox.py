"""The dashboard in Debian's Firefox ESR (Marionette; see ``firefox.py``), against a
real broker, registry and agents: the fleet view updates live and an echo chat streams
its artifact. Waits are MutationObserver-driven, never fixed sleeps; screenshots go to
test-artifacts/dashboard/firefox-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.behaviour.dashboard.conftest import Fleet
from tests.behaviour.dashboard.firefox import firefox

pytestmark = pytest.mark.asyncio


async def test_fleet_updates_live_and_echo_streams_in_firefox(
        fleet: Fleet, screenshots: Path, tmp_path: Path) -> None:
    await fleet.agent("greeter")
    async with firefox(tmp_path) as ff:
        await ff.goto(f"{fleet.url}/#/fleet")
        await ff.wait_for_text("#fleet-summary", "1 match")
        await ff.wait_for_text("#feed-state", "live")
        # Started after the page is live: its row must arrive through the change feed.
        ref = await fleet.agent("echo", "worker")
        await ff.wait_for_text(f'tr[data-ref="{ref}"] .badge', "online", timeout=30)
        await ff.wait_for_text("#fleet-summary", "2 matches")
        await ff.screenshot(screenshots / "firefox-fleet.png")

        await ff.goto(f"{fleet.url}/#/agent/{ref}")
        await ff.wait_for_text(".skill", "Returns the input text.")
        await ff.type_into("#chat-text", "hello from firefox")
        await ff.click("#send")
        await ff.wait_for_text("#chat-log li.artifact", "hello from firefox")
        await ff.wait_for_text("#chat-log li.status.completed", "")
        await ff.wait_for_text("#wire .wire-method", "→ SendStreamingMessage")
        await ff.screenshot(screenshots / "firefox-chat.png")
        assert await ff.page_errors() == []
