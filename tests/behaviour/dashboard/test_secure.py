"""On a secure fleet (TLS, identities, ACLs) the dashboard uses its own identity; the
browser gets none of it; a read-only ``dashboard`` identity watches but cannot send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import httpx
import pytest
import pytest_asyncio

from a2a_mqtt.access import Identity
from a2a_mqtt.broker.secure import SecureBroker, SecureBrokerConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.registry import RegistryConfig, RegistryServer
from a2a_mqtt.server import AgentConfig, AgentServer

pytestmark = pytest.mark.asyncio

PRESS: Final = Identity.parse("acme/line1/press", "agent")
CONSOLE: Final = Identity.parse("acme/ops/console", "requester", grants=("acme/line1",))
WATCHER: Final = Identity.parse("acme/ops/board", "dashboard")
REGISTRY: Final = Identity.parse("acme/ops/registry", "registry")


@pytest_asyncio.fixture
async def secure(tmp_path: Path) -> AsyncIterator[SecureBroker]:
    config = SecureBrokerConfig(state_dir=tmp_path / "secure",
                                identities=(PRESS, CONSOLE, WATCHER, REGISTRY))
    async with SecureBroker(config) as broker:
        yield broker


def settings(secure: SecureBroker, identity: Identity) -> ConnectionSettings:
    creds = secure.credentials(identity)
    assert creds.broker is not None
    return ConnectionSettings(url=creds.broker, username=creds.username,
                              password=creds.password, tls=creds.tls())


def as_identity(identity: Identity) -> dict[str, str]:
    return {"org": identity.ref.org, "unit": identity.ref.unit,
            "dashboard_id": identity.ref.name}


async def test_a_secure_fleet_through_the_dashboards_own_identity(
        secure: SecureBroker) -> None:
    press = settings(secure, PRESS)
    registry = RegistryServer(RegistryConfig(
        connection=settings(secure, REGISTRY), http_port=0, agent_ref=None,
        ingest_org="acme", ingest_unit="ops", ingest_id="registry"))
    agent = AgentServer(AgentConfig(ref=PRESS.ref, card=echo_card(), executor=EchoExecutor(),
                                    connection=press, session_expiry=0))
    async with agent, registry:
        console = settings(secure, CONSOLE)
        async with DashboardServer(DashboardConfig(
                connection=console, port=0, registry_url=registry.url,
                **as_identity(CONSOLE))) as dash, \
                httpx.AsyncClient(base_url=dash.url, timeout=20) as http:
            fleet = (await http.get("/api/fleet")).json()
            assert [i["ref"] for i in fleet["items"]] == [str(PRESS.ref)]
            async with http.stream("POST", f"/api/send?agent={PRESS.ref}",
                                   json={"text": "secured"}) as resp:
                lines = [json.loads(line) async for line in resp.aiter_lines() if line]
            assert lines[-1] == {"kind": "end"}
            wire = [i["item"] for i in lines if i["kind"] == "wire"]
            assert wire[0]["properties"]["responseTopic"].startswith(
                f"$a2a/v1/reply/{CONSOLE.ref}/")
            # Nothing the browser can read carries the broker password.
            password = secure.credentials(CONSOLE).password
            assert password
            for path in ("/", "/api/info", "/static/app.js", "/api/broker", "/api/fleet"):
                assert password not in (await http.get(path)).text
            assert password not in json.dumps(lines)
        # The read-only `dashboard` role: it watches the fleet; the broker refuses its
        # requests, and --read-only refuses them before they are made.
        async with DashboardServer(DashboardConfig(
                connection=settings(secure, WATCHER), port=0, registry_url=registry.url,
                read_only=True, **as_identity(WATCHER))) as dash, \
                httpx.AsyncClient(base_url=dash.url, timeout=20) as http:
            assert (await http.get("/api/fleet")).json()["total"] == 1
            resp = await http.post(f"/api/send?agent={PRESS.ref}", json={"text": "x"})
            assert resp.status_code == 403
            broker = (await http.get("/api/broker")).json()
            assert broker["available"] is False  # $SYS is an admin's: said so, not faked
