"""`a2a-mqtt --log-format json example echo --metrics-port P`: a real process serves
/readyz and /metrics, and writes JSON log lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.broker.config import free_port
from tests.behaviour.observability.scrape import scrape

pytestmark = pytest.mark.asyncio


async def test_example_agent_serves_metrics_and_json_logs(broker: MosquittoProcess,
                                                          ref: AgentRef) -> None:
    port = free_port()
    env = dict(os.environ, A2A_MQTT_LOG_FORMAT="json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "a2a_mqtt", "-v", "example", "echo", "--agent", str(ref),
         "--broker", broker.url, "--session-expiry", "0", "--metrics-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            async with asyncio.timeout(30):  # process start-up (imports) on a busy machine
                while True:
                    try:
                        if (await http.get(f"{url}/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass  # not listening yet
                    assert proc.poll() is None, "the agent process exited"
                    await asyncio.sleep(0.1)
            metrics = await scrape(http, url)
        assert metrics.value("a2a_mqtt_ready", a2a_service="agent") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.decode().splitlines()
             if line.startswith("{")]
    assert any(f"agent {ref} serving" in line["message"] for line in lines)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
