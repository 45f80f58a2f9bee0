"""The gateway and the registry on a secure broker, under their own identities: each
takes credentials and TLS, and sees exactly its scope."""

from __future__ import annotations

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker.secure import SecureBroker
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.gateway import GatewayConfig, GatewayServer
from a2a_mqtt.registry import RegistryConfig, RegistryServer
from a2a_mqtt.server import AgentConfig, AgentServer
from tests.behaviour.access.conftest import (
    CAST,
    PRESS,
    Line,
    agent_settings,
    requester_settings,
)
from tests.behaviour.conftest import requester_config
from tests.behaviour.gateway.conftest import gateway_card, message, stock_client

pytestmark = pytest.mark.asyncio

PLANNER = CAST["globex-agent"]


def _login(secure: SecureBroker, name: str) -> dict[str, object]:
    creds = secure.credentials(CAST[name])
    return {"connection": ConnectionSettings(url=secure.url, username=creds.username,
                                             password=creds.password, tls=creds.tls())}


async def test_gateway_serves_the_granted_agent_over_http(secure: SecureBroker,
                                                          line: Line) -> None:
    config = GatewayConfig(port=0, requester_id="gw", reply_timeout=5.0,
                           shutdown_grace=1.0, **_login(secure, "gateway"))  # type: ignore[arg-type]
    async with GatewayServer(config) as gw, httpx.AsyncClient(timeout=20.0) as http:
        card = await gateway_card(http, gw, PRESS.ref)
        events = [e async for e in stock_client(http, card, "JSONRPC").send_message(
            message("through the gateway"))]
        assert any("through the gateway" in str(e) for e in events)
    await line.call()


async def test_registry_indexes_only_its_scope(secure: SecureBroker, line: Line) -> None:
    planner = AgentConfig(ref=PLANNER.ref, card=echo_card(), executor=EchoExecutor(),
                          session_expiry=0, **agent_settings(secure.credentials(PLANNER)))
    registry_ref = CAST["registry"].ref
    async with AgentServer(planner), RegistryServer(RegistryConfig(
            http_port=0, agent_ref=None, ingest_org=registry_ref.org,
            ingest_unit=registry_ref.unit, ingest_id=registry_ref.name,
            **_login(secure, "registry"))) as registry:  # type: ignore[arg-type]
        await registry.service.ingest.barrier()  # type: ignore[union-attr]
        assert registry.service.index.get(PRESS.ref) is not None
        # globex's card is retained on the same broker (a globex client sees it) ...
        async with A2AMqttClient(requester_config(
                secure.url, **requester_settings(secure, CAST["partner"]))) as globex:
            assert (await globex.discovery.resolve(PLANNER.ref, timeout=5)).online
        # ... but never delivered to acme's registry.
        await registry.service.ingest.barrier()  # type: ignore[union-attr]
        assert registry.service.index.get(AgentRef.parse("globex/hq/planner")) is None
    await line.call()
