"""The demo's production line on a secure broker (``a2a-mqtt demo --secure``)."""

from __future__ import annotations

import pytest

from a2a_mqtt.demo import DemoConfig, run_demo
from a2a_mqtt.errors import ConfigError

pytestmark = pytest.mark.asyncio


async def test_secure_demo_runs_the_whole_line_over_tls() -> None:
    lines: list[str] = []
    await run_demo(DemoConfig(secure=True, parts=("P-1001",)), out=lines.append)
    text = "\n".join(lines)
    assert lines[0].startswith("broker    Mosquitto started at mqtts://")
    assert "refused   an anonymous client using the inspection agent's Client ID: 0x87" in text
    # Every stage served the part, the granted cross-org echo call too, and the
    # agents' offline cards went out through their own (authorised) sessions.
    for stage in ("inspection", "quality", "supply"):
        assert f"    {stage:<10} COMPLETED" in text
    assert "    echo       artifact   hello over MQTT" in text
    assert lines[-1] == "presence  4 of 4 agents now marked offline"


async def test_secure_demo_refuses_a_foreign_broker() -> None:
    with pytest.raises(ConfigError):
        await run_demo(DemoConfig(secure=True, broker_url="mqtt://127.0.0.1:1"))
