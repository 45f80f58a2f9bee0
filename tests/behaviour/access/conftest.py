"""A secure Mosquitto (TLS only, dynamic security) with a cast of identities.

* ``secure``: the running :class:`SecureBroker`, seeded with :data:`CAST`;
* ``line``: the legitimate traffic — agent ``acme/line1/press`` served by a real
  :class:`AgentServer` and a real requester ``acme/line1/op`` — with ``call()``
  proving it still flows;
* ``raw(secure, name)``: a bare transport logged in as one of the cast (or
  ``"anonymous"``), for attacks the library itself would never attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_asyncio

from a2a_mqtt.access import Identity
from a2a_mqtt.access.credentials import Credentials
from a2a_mqtt.broker.secure import SecureBroker, SecureBrokerConfig
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentServer
from a2a_mqtt.transport import Mqtt5Transport, MqttTransport
from a2a_mqtt.transport.base import ConnectOptions
from tests.behaviour.conftest import requester_config, text

PRESS: Final = Identity.parse("acme/line1/press", "agent")
OPERATOR: Final = Identity.parse("acme/line1/op", "requester")
CAST: Final = {
    "press": PRESS,
    "operator": OPERATOR,
    # Attackers holding valid identities: another agent, another requester of the
    # same unit, a requester of another org, read-only and directory roles.
    "rogue-agent": Identity.parse("acme/line1/rogue", "agent"),
    "spy-requester": Identity.parse("acme/line1/spy", "requester"),
    "other-org": Identity.parse("globex/hq/outsider", "requester"),
    "dashboard": Identity.parse("acme/ops/board", "dashboard"),
    "other-registry": Identity.parse("globex/ops/registry", "registry"),
    "other-gateway": Identity.parse("globex/edge/gw", "gateway"),
    # An agent of another organisation (for the registry's scope).
    "globex-agent": Identity.parse("globex/hq/planner", "agent"),
    # Services: a gateway granted acme/line1, acme's own registry.
    "gateway": Identity.parse("a2a-mqtt/gateway/gw", "gateway", grants=("acme/line1",)),
    "registry": Identity.parse("acme/ops/registry", "registry"),
    # Members of pool acme/line1/pool/presses.
    "member-a": Identity.parse("acme/line1/press-a", "agent", pools=("presses",)),
    "member-b": Identity.parse("acme/line1/press-b", "agent", pools=("presses",)),
    # Legitimate across orgs thanks to an explicit grant.
    "partner": Identity.parse("globex/hq/partner", "requester", grants=("acme/line1",)),
}
ATTACKERS: Final = ("anonymous", "rogue-agent", "spy-requester", "other-org", "dashboard",
                    "other-registry", "other-gateway")


@pytest_asyncio.fixture(params=["dynsec", "files"])
async def secure(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[SecureBroker]:
    """Both enforcement paths: the dynamic-security plugin, and the password/ACL-file
    fallback (which also proves the exported Mosquitto ACL file enforces the policy)."""
    config = SecureBrokerConfig(state_dir=tmp_path / "secure", identities=tuple(CAST.values()),
                                auth=request.param)
    async with SecureBroker(config) as broker:
        yield broker


def agent_settings(creds: Credentials) -> dict[str, Any]:
    """AgentConfig keyword arguments that log in with ``creds``."""
    assert creds.broker is not None
    return {"connection": ConnectionSettings(url=creds.broker, username=creds.username,
                                            password=creds.password, tls=creds.tls())}


def requester_settings(secure: SecureBroker, identity: Identity) -> dict[str, Any]:
    """RequesterConfig keyword arguments for ``identity`` (Client ID = its reference)."""
    creds = secure.credentials(identity)
    assert creds.broker is not None
    return {"org": identity.ref.org, "unit": identity.ref.unit,
            "requester_id": identity.ref.name,
            "connection": ConnectionSettings(url=creds.broker, username=creds.username,
                                             password=creds.password, tls=creds.tls())}


@dataclass
class Line:
    """The legitimate traffic that must keep flowing while attacks are tried."""

    server: AgentServer
    client: A2AMqttClient
    executor: EchoExecutor
    agent_transport: MqttTransport
    #: Every time the agent's own session went down (a takeover would show here).
    agent_drops: list[bool]

    @property
    def agent_undisturbed(self) -> bool:
        return self.agent_transport.connected and not self.agent_drops

    async def call(self, body: str = "still served") -> None:
        response = await self.client.transport_for(PRESS.ref).send_message(text(body))
        assert response.task.artifacts[0].parts[0].text == body


@pytest_asyncio.fixture
async def line(secure: SecureBroker) -> AsyncIterator[Line]:
    from a2a_mqtt.server import AgentConfig

    executor = EchoExecutor()
    config = AgentConfig(ref=PRESS.ref, card=echo_card(), executor=executor, session_expiry=0,
                         **agent_settings(secure.credentials(PRESS)))
    made: list[MqttTransport] = []
    drops: list[bool] = []

    def factory(options: ConnectOptions) -> MqttTransport:
        transport = Mqtt5Transport(options)
        transport.on_connection_change(lambda up: None if up else drops.append(up))
        made.append(transport)
        return transport

    async with AgentServer(config, transport_factory=factory) as server, A2AMqttClient(
            requester_config(secure.url, **requester_settings(secure, OPERATOR))) as client:
        await client.discovery.resolve(PRESS.ref, timeout=5)
        result = Line(server=server, client=client, executor=executor,
                      agent_transport=made[0], agent_drops=drops)
        await result.call("before the attacks")
        yield result


def options(secure: SecureBroker, name: str, *, client_id: str | None = None,
            url: str | None = None) -> ConnectOptions:
    """Connect options for cast member ``name`` (``anonymous``: no credentials, but TLS)."""
    if name == "anonymous":
        creds = Credentials(broker=url or secure.url, ca_file=str(secure.ca_file))
        return secure.connect_options(creds, client_id=client_id or "anonymous-attacker",
                                      reconnect_max_delay=0.2, connect_timeout=5.0)
    creds = secure.credentials(CAST[name])
    if url is not None:
        creds = creds.merged(Credentials(broker=url))
    return secure.connect_options(creds, client_id=client_id, reconnect_max_delay=0.2,
                                  connect_timeout=5.0)


def raw(secure: SecureBroker, name: str, **kwargs: Any) -> MqttTransport:
    """An unconnected bare transport for cast member ``name``."""
    return Mqtt5Transport(options(secure, name, **kwargs))
