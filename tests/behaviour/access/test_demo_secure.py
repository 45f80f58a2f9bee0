"""The demo's production line on a secure broker (``a2a-mqtt demo --secure``): TLS,
identities and ACLs, bearer tokens verified against a JWKS over HTTPS, signed cards."""

from __future__ import annotations

import re

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


async def test_secure_demo_uses_tokens_and_signed_cards() -> None:
    lines: list[str] = []
    await run_demo(DemoConfig(secure=True, parts=("P-1001",)), out=lines.append)
    text = "\n".join(lines)
    issuer = re.search(r"^issuer    .* JWKS served over HTTPS at (https://127\.0\.0\.1:\d+"
                       r"/\.well-known/jwks\.json)", text, re.MULTILINE)
    assert issuer is not None, text
    # Cards: all four retained cards passed CardPolicy "require" with the demo's key.
    assert "cards     4 of 4 signatures verified (CardPolicy require" in text
    # The agents really guard: a call without a token is refused with -32010 ...
    assert re.search(r"^refused   a call to factory/line1/inspection without a bearer token: "
                     r"-32010 unauthenticated \(.*no bearer token", text, re.MULTILINE), text
    # ... and the line ran on tokens the agents verified against that JWKS (one
    # fetch per agent's verifier): three stages and echo, at least one request each.
    bearer = re.search(r"^bearer    (\d+) requests admitted on tokens verified against "
                       r"(\S+) \(JWKS fetched (\d+) times\)$", text, re.MULTILINE)
    assert bearer is not None, text
    assert int(bearer[1]) >= 4
    assert bearer[2] == issuer[1]
    assert int(bearer[3]) == 4
    for stage in ("inspection", "quality", "supply"):
        assert f"    {stage:<10} COMPLETED" in text
    assert "    echo       artifact   hello over MQTT" in text
    # No token ever reaches the output.
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", text)


async def test_plain_demo_has_no_security_lines() -> None:
    lines: list[str] = []
    await run_demo(DemoConfig(parts=("P-1001",)), out=lines.append)
    assert lines[0].startswith("broker    Mosquitto started at mqtt://")
    assert not [line for line in lines
                if line.startswith(("issuer", "cards", "bearer", "refused", "identity"))]
    # Four agents, the inspector as a pool of two (the plain demo runs the workflow).
    assert lines[-1] == "presence  5 of 5 agents now marked offline"


async def test_secure_demo_refuses_a_foreign_broker() -> None:
    with pytest.raises(ConfigError):
        await run_demo(DemoConfig(secure=True, broker_url="mqtt://127.0.0.1:1"))
