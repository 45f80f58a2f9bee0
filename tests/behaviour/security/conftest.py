"""Helpers for security tests: a real token issuer whose JWKS is served over HTTPS.

* ``issuer``: a :class:`TokenIssuer` plus a :class:`JwksServer` on a free port, with
  a certificate from a CA generated for this test (verifiers trust only that CA).
* ``bearer_agent(issuer, **verifier_options)``: the AgentConfig options for an agent
  that verifies tokens of ``issuer`` for its own ref as audience.
* ``Observer``: a third party subscribed to every request and reply, recording payloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from a2a.types.a2a_pb2 import AgentCard, AgentSkill

from a2a_mqtt.access.ca import LocalCA
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import echo_card
from a2a_mqtt.security.authz import BearerAuthorizer, declare_bearer
from a2a_mqtt.security.bearer import BearerConfig, BearerVerifier
from a2a_mqtt.security.issuer import TokenIssuer
from a2a_mqtt.security.jwks_server import JwksServer, JwksServerConfig
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport
from a2a_mqtt.transport.base import BrokerURL, IncomingMessage, Subscription

ISSUER = "https://issuer.a2a-mqtt.test"


@dataclass
class Issuer:
    tokens: TokenIssuer
    server: JwksServer
    ca: LocalCA
    directory: Path

    @property
    def jwks_url(self) -> str:
        return self.server.jwks_url

    def config(self, audience: str, **options: Any) -> BearerConfig:
        return BearerConfig(issuer=ISSUER, audience=audience, jwks_url=self.jwks_url,
                            ca_file=self.ca.cert_file, **options)


@pytest_asyncio.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[Issuer]:
    ca = LocalCA(directory=tmp_path / "ca")
    cert = ca.issue_server(directory=tmp_path / "ca" / "jwks", hosts=("localhost", "127.0.0.1"))
    tokens = TokenIssuer.create(tmp_path / "issuer", issuer=ISSUER)
    config = JwksServerConfig(issuer_dir=tmp_path / "issuer", cert_file=cert.cert_file,
                              key_file=cert.key_file)
    async with config.server() as server:
        yield Issuer(tokens=tokens, server=server, ca=ca, directory=tmp_path / "issuer")


def guarded_card() -> AgentCard:
    """echo's card with a second skill; card level needs a token, skills need scopes."""
    card = echo_card()
    card.skills.append(AgentSkill(id="shout", name="Shout", description="Echoes loudly.",
                                  tags=["echo"]))
    return declare_bearer(card, scopes=(), skill_scopes={"echo": ["echo:run"],
                                                         "shout": ["echo:admin"]})


def bearer_agent(issuer: Issuer, ref: AgentRef, **options: Any) -> dict[str, Any]:
    verifier = BearerVerifier(issuer.config(str(ref), **options))
    return {"authorizer": BearerAuthorizer(verifier)}


class Observer:
    """A third party on the broker reading every request and reply it is allowed to."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.arrived = asyncio.Event()

    def on_message(self, msg: IncomingMessage) -> None:
        self.messages.append(msg)
        self.arrived.set()

    @property
    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]

    async def on(self, topic_prefix: str, *, at_least: int = 1,
                 timeout: float = 10.0) -> list[IncomingMessage]:
        """The messages seen on topics starting with ``topic_prefix``, once ``at_least``
        have arrived. The observer is a subscriber of its own: its copy of a reply may
        arrive after the requester's, so a test awaits it rather than reading at once."""
        async with asyncio.timeout(timeout):
            while len(found := [m for m in self.messages
                                if m.topic.startswith(topic_prefix)]) < at_least:
                self.arrived.clear()  # no await since the check: nothing slips between
                await self.arrived.wait()
        return found

    async def replies_to(self, requests: list[IncomingMessage]) -> list[IncomingMessage]:
        """The replies to ``requests``, once each has had its last one (``a2a-stream-end``).
        Counting replies is not enough: requesters probe their own reply subscriptions, and
        the observer sees those probes too, in any order against the replies."""
        wanted = {request.properties.correlation_data for request in requests}
        seen = 1
        while True:
            found = await self.on("$a2a/v1/reply/", at_least=seen)
            replies = [r for r in found if r.properties.correlation_data in wanted]
            ended = {r.properties.correlation_data for r in replies
                     if r.properties.user_property("a2a-stream-end") == "true"}
            if ended == wanted:
                return replies
            seen = len(found) + 1


@pytest_asyncio.fixture
async def observer(broker: MosquittoProcess, unique_id: str) -> AsyncIterator[Observer]:
    seen = Observer()
    options = ConnectOptions(url=BrokerURL.parse(broker.url), client_id=f"spy-{unique_id}")
    transport = Mqtt5Transport(options)
    for topic_filter in ("$a2a/v1/request/#", "$a2a/v1/reply/#"):
        await transport.subscribe(Subscription(topic_filter, qos=1), seen.on_message)
    async with transport:
        yield seen
