"""Debian's ``firefox-esr`` driven over Firefox's built-in Marionette protocol.

Playwright cannot drive a stock Firefox and geckodriver is not packaged, so the test
speaks Marionette (``firefox-esr --headless --marionette``) through Mozilla's own
client, ``marionette-driver`` (PyPI): nothing is downloaded. ``scripts/bootstrap --tests``
installs firefox-esr. Each browser gets a fresh profile and ``marionette.port = 0``:
Firefox picks a free port and writes it to ``MarionetteActivePort`` in the profile, so
parallel runs never collide on 2828.

The client is blocking; every call runs in ``asyncio.to_thread`` so the event loop
(which serves the dashboard and the agents in-process) keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # mozinfo calls distro.linux_distribution() at import time (a DeprecationWarning).
    warnings.simplefilter("ignore", DeprecationWarning)
    from marionette_driver.errors import ScriptTimeoutException
    from marionette_driver.marionette import Marionette

# Resolves once ``css`` matches an element whose text contains ``text``; a
# MutationObserver re-checks on every DOM change, so nothing polls.
_WAIT_FOR_TEXT = """
const [css, text, resolve] = arguments;
const ok = () => [...document.querySelectorAll(css)].some(e => e.textContent.includes(text));
if (ok()) { resolve(true); return; }
const obs = new MutationObserver(() => { if (ok()) { obs.disconnect(); resolve(true); } });
obs.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""

# Page errors (uncaught exceptions, rejected promises) after the collector is installed.
_COLLECT_ERRORS = """
if (!window.__errors) {
  window.__errors = [];
  window.addEventListener("error", e => window.__errors.push(String(e.message)));
  window.addEventListener("unhandledrejection", e => window.__errors.push(String(e.reason)));
}
"""


def firefox_path() -> str:
    for candidate in (os.environ.get("A2A_MQTT_FIREFOX"), shutil.which("firefox-esr"),
                      "/usr/bin/firefox-esr"):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Debian's firefox-esr is needed for the dashboard's Firefox test: "
                "apt-get install -y firefox-esr (scripts/bootstrap --tests does)", pytrace=False)


class Firefox:
    """An async face over one Marionette session."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def goto(self, url: str) -> None:
        await asyncio.to_thread(self.client.navigate, url)
        await asyncio.to_thread(self.client.execute_script, _COLLECT_ERRORS, new_sandbox=False,
                                sandbox=None)

    async def wait_for_text(self, css: str, text: str, timeout: float = 10.0) -> None:
        try:
            await asyncio.to_thread(self.client.execute_async_script, _WAIT_FOR_TEXT,
                                    script_args=(css, text), sandbox=None,
                                    script_timeout=int(timeout * 1000))
        except ScriptTimeoutException:
            seen = await self.text(css)
            raise AssertionError(f"{css!r} never contained {text!r} in {timeout} s "
                                 f"(last seen: {seen!r})") from None

    async def text(self, css: str) -> str:
        script = "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;"
        return str(await asyncio.to_thread(self.client.execute_script, script,
                                           script_args=(css,), sandbox=None))

    async def type_into(self, css: str, text: str) -> None:
        """Real key events into a field (Marionette's element send-keys)."""
        element = await asyncio.to_thread(self.client.find_element, "css selector", css)
        await asyncio.to_thread(element.clear)
        await asyncio.to_thread(element.send_keys, text)

    async def click(self, css: str) -> None:
        element = await asyncio.to_thread(self.client.find_element, "css selector", css)
        await asyncio.to_thread(element.click)

    async def screenshot(self, path: Path) -> None:
        png = await asyncio.to_thread(self.client.screenshot, format="binary", full=True)
        path.write_bytes(png)

    async def page_errors(self) -> list[str]:
        errors = await asyncio.to_thread(self.client.execute_script,
                                         "return window.__errors || [];", sandbox=None)
        return [str(e) for e in errors]


def _start(binary: str, profile: Path) -> tuple[subprocess.Popen[bytes], Any]:
    (profile / "user.js").write_text('user_pref("marionette.port", 0);\n')
    log = profile / "firefox.log"  # a file, not a pipe nobody drains while Firefox runs
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
            stdout=out, stderr=subprocess.STDOUT)
    port_file = profile / "MarionetteActivePort"
    deadline = time.monotonic() + 30
    # Firefox announces its Marionette port only through this file; there is no event to
    # await, so startup is a bounded check of the file (and of the process being alive).
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None:
            output = log.read_text(errors="replace")
            pytest.fail(f"firefox-esr exited with {proc.returncode}: {output[-2000:]}",
                        pytrace=False)
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("firefox-esr did not open its Marionette port in 30 s", pytrace=False)
        time.sleep(0.05)
    try:
        client = Marionette(host="127.0.0.1", port=int(port_file.read_text()))
        client.start_session()
        client.set_window_rect(width=1360, height=900)
    except BaseException:
        proc.kill()
        proc.wait(5)
        raise
    return proc, client


@asynccontextmanager
async def firefox(profile: Path) -> AsyncIterator[Firefox]:
    proc, client = await asyncio.to_thread(_start, firefox_path(), profile)
    try:
        yield Firefox(client)
    finally:
        try:
            await asyncio.to_thread(client.delete_session)
        finally:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)
