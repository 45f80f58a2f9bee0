"""run(config): one helper runs any service until SIGTERM/SIGINT, then stops it gracefully."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from tests.behaviour.conftest import requester_config

pytestmark = pytest.mark.asyncio

_AGENT = """
import sys
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.service import run

run(AgentConfig(ref=AgentRef.parse(sys.argv[1]), card=echo_card(), executor=EchoExecutor(),
                connection=ConnectionSettings(url=sys.argv[2]), session_expiry=0))
print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_service_gracefully(broker: MosquittoProcess, unique_id: str,
                                                     sig: signal.Signals) -> None:
    ref = AgentRef("svc", unique_id, f"echo-{sig.name.lower()}")
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        events = mqtt.discovery.watch()
        proc = subprocess.Popen([sys.executable, "-c", _AGENT, str(ref), broker.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            async with asyncio.timeout(30):
                async for event in events:
                    if event.entry.ref == ref and event.entry.online:
                        break
            proc.send_signal(sig)
            async with asyncio.timeout(30):
                async for event in events:
                    if event.entry.ref == ref and not event.entry.online:
                        offline = event.entry
                        break
            out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # Graceful: the agent itself marked its card offline (not the broker's will), the
    # helper returned normally and the process exited 0.
    assert offline.status_source == "agent"
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"
    assert "Traceback" not in err
