"""``a2a-mqtt demo --stay`` (what ``./scripts/demo --stay`` runs): the demo, then the
dashboard's URL, serving the demo's agents until SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx


def test_demo_stay_prints_the_dashboard_url_and_serves_until_interrupted() -> None:
    with subprocess.Popen([sys.executable, "-m", "a2a_mqtt", "demo", "--stay",
                           "--dashboard-port", "0"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, process_group=0) as proc:
        _check(proc)


def _check(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:  # bounded: the demo ends its calls, then prints the URL
            if line.startswith("dashboard "):
                url = line.split()[1]
                break
        assert url is not None and url.startswith("http://127.0.0.1:")
        fleet = httpx.get(f"{url}api/fleet", timeout=10).json()
        served = sum(1 for i in fleet["items"] if i["kind"] == "agent")
        assert served >= 4  # the production line and echo (and its pools), up while it stays
        assert {i["status"] for i in fleet["items"]} == {"online"}
        assert httpx.get(url, timeout=10).status_code == 200
        # As a terminal's Ctrl-C does: SIGINT to the whole foreground process group.
        # The broker it started is in a group of its own, so it outlives the agents.
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.stdout.read()
        assert proc.wait(30) == 0
        assert f"presence  {served} of {served} agents now marked offline" in rest
        assert "reconnect attempt" not in rest, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
