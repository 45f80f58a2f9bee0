"""The demo: a broker, the production-line agents, and a client that finds and calls them.

Everything runs in this process except Mosquitto, which is started on a free
port unless a broker URL is given. The client knows no addresses: it reads the
retained cards, then runs the production line as a workflow
(``demo/line.py``: a pool of two inspectors, a human hold on REWORK).

``secure=True`` (``a2a-mqtt demo --secure``, ``./scripts/demo --secure``) runs the
same line on :class:`SecureBroker`: TLS only, no anonymous access, one identity
per agent and one for the operator, ACLs from the binding's topic rules. On top
of that every agent declares bearer security in its card and verifies tokens
against a local issuer's JWKS (HTTPS, certificate from the broker's CA), every
agent signs its card, and the client accepts only cards signed by the demo's
key and calls with a token per agent (see ``_secure_setup``, ``_add_tokens_and_cards``);
that mode finds each stage by a skill tag and calls them one after the other.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a2a.client import Client, ClientCallContext
from a2a.client.auth import AuthInterceptor, CredentialService
from a2a.client.interceptors import ClientCallInterceptor
from a2a.types.a2a_pb2 import AgentCard, Message, Part, Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.access.identity import Identity
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.discovery import AgentEntry
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples import EXAMPLES
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.server.host import AgentHost

if TYPE_CHECKING:
    from a2a_mqtt.security.authz import RequestAuthorizer
    from a2a_mqtt.security.bearer import Principal
    from a2a_mqtt.security.jwks_server import JwksServer

__all__ = ["DemoConfig", "DemoSecurity", "run_demo"]

Printer = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    broker_url: str | None = None
    """Use this broker instead of starting one."""
    secure: bool = False
    """Start a secure broker (TLS, identities, ACLs); excludes ``broker_url``."""
    parts: tuple[str, ...] = ("P-1001", "P-1002", "P-1003", "P-1005")
    agents: tuple[str, ...] = field(default=("inspection", "quality", "supply", "echo"))


#: The operator's identity on a secure broker; the grant opens the echo agent's org.
OPERATOR = Identity.parse("factory/line1/operator", "requester",
                          grants=("demo/examples/echo",))


@dataclass
class DemoSecurity:
    """Extra keyword arguments for each agent's AgentConfig (by example name) and for
    the operator's RequesterConfig (credentials, TLS, authorizer, card signer and
    policy), the cards to serve instead of the examples', and the bearer token
    for each agent the operator calls."""

    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requester: dict[str, Any] = field(default_factory=dict)
    cards: dict[str, AgentCard] = field(default_factory=dict)
    #: The operator's token per agent ref (its ``aud``); empty: calls carry none.
    tokens: dict[str, str] = field(default_factory=dict)
    #: The CA clients trust (a secure broker's), else None.
    ca_file: str | None = None
    #: The issuer's JWKS server the agents verify tokens against, else None.
    jwks: JwksServer | None = None
    #: Requests the agents admitted on a verified token.
    authorized: int = 0

    def interceptors(self, ref: AgentRef) -> list[ClientCallInterceptor]:
        """a2a-sdk's AuthInterceptor handing out ``ref``'s token, if there is one."""
        token = self.tokens.get(str(ref))
        return [AuthInterceptor(_Token(token))] if token is not None else []


class _Token(CredentialService):
    """One token for every scheme the card asks for (the demo declares one)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_credentials(self, security_scheme_name: str,
                              context: ClientCallContext | None) -> str | None:
        return self._token


async def _secure_setup(stack: AsyncExitStack, config: DemoConfig,
                        out: Printer) -> tuple[str, DemoSecurity]:
    """Start the secure broker with one identity per agent and the operator's."""
    from a2a_mqtt.broker.secure import SecureBroker, SecureBrokerConfig  # noqa: PLC0415

    agents = {name: Identity.parse(EXAMPLES[name].default_ref, "agent")
              for name in config.agents}
    broker = await stack.enter_async_context(SecureBroker(SecureBrokerConfig(
        identities=(*agents.values(), OPERATOR))))
    out(f"broker    Mosquitto started at {broker.url} (TLS only, no anonymous access, "
        f"{len(agents) + 1} identities, Client IDs bound to them)")
    security = DemoSecurity()
    for name, who in agents.items():
        creds = broker.credentials(who)
        security.agents[name] = {"connection": ConnectionSettings(
            url=broker.url, username=creds.username, password=creds.password, tls=creds.tls())}
    creds = broker.credentials(OPERATOR)
    security.requester = {"org": OPERATOR.ref.org, "unit": OPERATOR.ref.unit,
                          "requester_id": OPERATOR.ref.name, "connection": ConnectionSettings(
                              url=broker.url, username=creds.username,
                              password=creds.password, tls=creds.tls())}
    out(f"identity  operator {OPERATOR.ref} may call its own org, plus a grant for "
        f"{', '.join(str(g) for g in OPERATOR.grants)}")
    security.ca_file = str(broker.ca_file)
    await _add_tokens_and_cards(stack, security, config, out, state_dir=broker.state_dir,
                                ca_file=broker.ca_file)
    return broker.url, security


#: The demo issuer's ``iss``; its keys are served by the JWKS server it starts.
DEMO_ISSUER = "https://issuer.demo.a2a-mqtt.invalid"


def _scope(name: str) -> str:
    return f"{name}:call"


class _Tally:
    """A RequestAuthorizer counting the requests ``inner`` let through with a token."""

    def __init__(self, inner: RequestAuthorizer, security: DemoSecurity) -> None:
        self._inner = inner
        self._security = security

    async def authorize(self, card: AgentCard, method: str, params: Any,
                        headers: Mapping[str, str]) -> Principal | None:
        principal = await self._inner.authorize(card, method, params, headers)
        if principal is not None:
            self._security.authorized += 1
        return principal


async def _add_tokens_and_cards(stack: AsyncExitStack, security: DemoSecurity,
                                config: DemoConfig, out: Printer, *, state_dir: Path,
                                ca_file: Path) -> None:
    """Issuer + JWKS over HTTPS, bearer-guarded signed cards, a token per agent."""
    from joserfc.jwk import ECKey  # noqa: PLC0415

    from a2a_mqtt.access.ca import LocalCA  # noqa: PLC0415
    from a2a_mqtt.security.authz import BearerAuthorizer, declare_bearer  # noqa: PLC0415
    from a2a_mqtt.security.bearer import BearerConfig, BearerVerifier  # noqa: PLC0415
    from a2a_mqtt.security.cards import CardPolicy, CardSigner  # noqa: PLC0415
    from a2a_mqtt.security.issuer import TokenIssuer  # noqa: PLC0415
    from a2a_mqtt.security.jwks_server import JwksServer, JwksServerConfig  # noqa: PLC0415
    from a2a_mqtt.security.keys import new_signing_key  # noqa: PLC0415

    issuer = TokenIssuer.create(state_dir / "issuer", issuer=DEMO_ISSUER)
    # The broker's CA (already trusted by every client here) certifies the JWKS server.
    cert = LocalCA(directory=ca_file.parent).issue_server(
        directory=state_dir / "issuer", hosts=("127.0.0.1", "localhost"))
    jwks = await stack.enter_async_context(JwksServer(JwksServerConfig(
        issuer_dir=issuer.directory, cert_file=cert.cert_file, key_file=cert.key_file)))
    security.jwks = jwks
    out(f"issuer    local token issuer {DEMO_ISSUER}, JWKS served over HTTPS at "
        f"{jwks.jwks_url} (certificate from the broker's CA)")
    card_key = new_signing_key()
    signer = CardSigner(key=card_key)
    for name in config.agents:
        ref = EXAMPLES[name].default_ref
        security.cards[name] = declare_bearer(EXAMPLES[name].card(), scopes=(_scope(name),))
        verifier = BearerVerifier(BearerConfig(issuer=DEMO_ISSUER, audience=ref,
                                               jwks_url=jwks.jwks_url, ca_file=ca_file))
        security.agents[name].update(authorizer=_Tally(BearerAuthorizer(verifier), security),
                                     card_signer=signer)
        security.tokens[ref] = issuer.issue(subject=str(OPERATOR.ref), audience=ref,
                                            scopes=(_scope(name),), ttl=600)
    security.requester["card_policy"] = CardPolicy(
        mode="require", trusted_keys=[ECKey.import_key(card_key.as_dict(private=False))])
    out(f"cards     every agent signs its card (ES256, kid {(card_key.kid or '')[:12]}...); the "
        f"client requires a signature by that key")


async def _show_refusal(url: str, ca_file: str, out: Printer) -> None:
    """One attempt without credentials, to show the broker refuses it."""
    from a2a_mqtt.errors import ConnectError  # noqa: PLC0415
    from a2a_mqtt.mqtt_types import BrokerURL, ConnectOptions, TLSConfig  # noqa: PLC0415
    from a2a_mqtt.transport.base import default_transport  # noqa: PLC0415

    anonymous = default_transport(ConnectOptions(
        url=BrokerURL.parse(url), client_id="factory/line1/inspection",
        tls=TLSConfig(ca_file=ca_file), connect_timeout=5.0))
    try:
        await anonymous.connect()
    except ConnectError as exc:
        out(f"refused   an anonymous client using the inspection agent's Client ID: "
            f"{exc.reason_code and hex(exc.reason_code)}")
    else:
        await anonymous.disconnect()
        raise RuntimeError("the secure broker accepted an anonymous client")


async def _show_token_refusal(mqtt: A2AMqttClient, entry: AgentEntry, out: Printer) -> None:
    """One call without a token, to show the agent refuses it (-32010)."""
    from a2a_mqtt.binding.codes import UnauthenticatedError  # noqa: PLC0415

    try:
        await _call(mqtt.client_for(entry), {"part": "P-0000"}, lambda _: None, "")
    except UnauthenticatedError as exc:
        out(f"refused   a call to {entry.ref} without a bearer token: "
            f"{exc.kind.code} {exc.kind.wire_name} ({exc})")
    else:
        raise RuntimeError(f"{entry.ref} served a call that carried no token")


def _request(payload: dict[str, Any] | str) -> SendMessageRequest:
    part = Part(text=payload) if isinstance(payload, str) else Part(
        media_type="application/json")
    if not isinstance(payload, str):
        part.data.struct_value.update(payload)
    return SendMessageRequest(message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                                              parts=[part]))


async def _call(client: Client, payload: dict[str, Any] | str, out: Printer,
                label: str) -> dict[str, Any]:
    """Stream one call, printing each event; return the last data artifact."""
    result: dict[str, Any] = {}
    async for event in client.send_message(_request(payload)):
        kind = event.WhichOneof("payload")
        if kind == "status_update":
            status = event.status_update.status
            text = " ".join(p.text for p in status.message.parts) if status.HasField(
                "message") else ""
            state = status.state
            out(f"    {label:<10} {_state(state):<10} {text}".rstrip())
        elif kind == "artifact_update":
            for p in event.artifact_update.artifact.parts:
                if p.HasField("data"):
                    value = MessageToDict(p.data)
                    if isinstance(value, dict):
                        result = value
                        out(f"    {label:<10} artifact   {_fmt(value)}")
                elif p.HasField("text"):
                    out(f"    {label:<10} artifact   {p.text}")
    return result


def _fmt(value: dict[str, Any]) -> str:
    """``part=P-1 key=value ...``: the part first, then the rest alphabetically."""
    def show(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return v if isinstance(v, str) and " " not in v else json.dumps(v)
    keys = sorted(value, key=lambda k: (k != "part", k))
    return " ".join(f"{k}={show(value[k])}" for k in keys)


def _state(state: int) -> str:
    from a2a.types.a2a_pb2 import TaskState  # noqa: PLC0415

    return TaskState.Name(state).removeprefix("TASK_STATE_")


async def run_demo(config: DemoConfig, out: Printer = print, *,
                   then: Callable[[str], Awaitable[None]] | None = None) -> None:
    """Run the whole demo; returns when it has finished (about a second).

    ``then(broker_url)``, when given, runs after the calls while the agents are still
    up (``a2a-mqtt demo --stay`` serves the dashboard there until interrupted)."""
    if config.secure and config.broker_url is not None:
        raise ConfigError("the secure demo starts its own broker: drop the broker URL")
    async with AsyncExitStack() as stack:
        url = config.broker_url
        security = DemoSecurity()
        if config.secure:
            url, security = await _secure_setup(stack, config, out)
        elif url is None:
            from a2a_mqtt.broker import EmbeddedBroker  # noqa: PLC0415

            broker = await stack.enter_async_context(EmbeddedBroker())
            url = broker.url
            out(f"broker    Mosquitto started at {url}")
        # The plain demo runs the line as a workflow (demo/line.py): its inspection
        # step fans out to a pool of two inspection agents. The secure one calls each stage.
        workflow = not config.secure and "inspection" in config.agents
        configs = [AgentConfig(ref=AgentRef.parse(EXAMPLES[name].default_ref),
                               card=security.cards.get(name) or EXAMPLES[name].card(),
                               executor=EXAMPLES[name].executor(),
                               session_expiry=0, **{"connection": ConnectionSettings(url=url),
                                                    **security.agents.get(name, {})})
                   for name in config.agents if not (workflow and name == "inspection")]
        if workflow:
            from a2a_mqtt.demo.line import pool_configs  # noqa: PLC0415

            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            configs[:0] = pool_configs(url, state_dir)
        host = await stack.enter_async_context(AgentHost(configs))
        out(f"agents    {len(host.servers)} agents serving, each with its own MQTT session")
        if security.ca_file is not None:
            await _show_refusal(url, security.ca_file, out)
        mqtt = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
            **{"connection": ConnectionSettings(url=url), **security.requester})))
        out("discover  retained Agent Cards on $a2a/v1/discovery/#:")
        entries = mqtt.discovery.list()
        for entry in entries:
            out(f"    {entry.ref!s:<32} {entry.status:<7} {entry.name:<16} "
                f"tags={','.join(sorted(entry.tags))}")
        if security.tokens:
            # Under CardPolicy "require" a card whose signature does not verify is unusable.
            usable = [e for e in entries if e.card is not None]
            out(f"cards     {len(usable)} of {len(entries)} signatures verified "
                f"(CardPolicy require, trusting the demo's signing key)")
        stages = []
        for tag in () if workflow else ("inspection", "quality", "supply-chain"):
            entry = await mqtt.discovery.find(tag=tag)
            out(f"resolve   tag {tag!r:<14} -> {entry.ref}")
            stages.append((tag.split("-")[0], mqtt.client_for(
                entry, interceptors=security.interceptors(entry.ref))))
        if security.tokens:
            await _show_token_refusal(mqtt, await mqtt.discovery.find(tag="inspection"), out)
        if workflow:
            from a2a_mqtt.demo.line import pool_spread, run_line  # noqa: PLC0415

            await run_line(mqtt, config.parts, out)
            out(f"pool      factory/line1/pool/inspection spread the inspections: "
                f"{pool_spread(configs)}")
        for part in () if workflow else config.parts:
            out(f"part {part}")
            data: dict[str, Any] = {"part": part}
            for label, client in stages:
                data = await _call(client, data, out, label)
        if "echo" in config.agents:
            entry = await mqtt.resolve(EXAMPLES["echo"].default_ref)
            echo = mqtt.client_for(entry, interceptors=security.interceptors(entry.ref))
            out("echo")
            await _call(echo, "hello over MQTT", out, "echo")
        if security.jwks is not None:
            out(f"bearer    {security.authorized} requests admitted on tokens verified against "
                f"{security.jwks.jwks_url} (JWKS fetched {security.jwks.requests} times)")
        if then is not None:
            await then(url)
        out("done      stopping agents (their cards are republished offline)")
        await host.__aexit__(None, None, None)
        await mqtt.requester.barrier()
        offline = [e for e in mqtt.discovery.list() if not e.online]
        out(f"presence  {len(offline)} of {len(configs)} agents now marked offline")
