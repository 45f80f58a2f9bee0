"""The demo: a broker, the production-line agents, and a client that finds and calls them.

Everything runs in this process except Mosquitto, which is started on a free
port unless a broker URL is given. The client knows no addresses: it finds
each stage by a skill tag in the retained cards, then streams every call.

``secure=True`` (``a2a-mqtt demo --secure``, ``./scripts/demo --secure``) runs the
same line on :class:`SecureBroker`: TLS only, no anonymous access, one identity
per agent and one for the operator, ACLs from the binding's topic rules.
:class:`DemoSecurity` is where per-agent and requester settings are added; bearer
tokens and signed cards plug in there too (see ``_secure_setup``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from a2a.client import Client
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.access.identity import Identity
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.client.factory import A2AMqttClient
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples import EXAMPLES
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.server.host import AgentHost

__all__ = ["DemoConfig", "DemoSecurity", "run_demo"]

Printer = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    broker_url: str | None = None
    """Use this broker instead of starting one."""
    secure: bool = False
    """Start a secure broker (TLS, identities, ACLs); excludes ``broker_url``."""
    parts: tuple[str, ...] = ("P-1001", "P-1002", "P-1003", "P-1004")
    agents: tuple[str, ...] = field(default=("inspection", "quality", "supply", "echo"))


#: The operator's identity on a secure broker; the grant opens the echo agent's org.
OPERATOR = Identity.parse("factory/line1/operator", "requester",
                          grants=("demo/examples/echo",))


@dataclass
class DemoSecurity:
    """Extra keyword arguments for each agent's AgentConfig (by example name) and for
    the operator's RequesterConfig: credentials and TLS now, tokens and card
    signing keys from the bearer/signed-card work later."""

    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requester: dict[str, Any] = field(default_factory=dict)
    #: The CA clients trust (a secure broker's), else None.
    ca_file: str | None = None


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
        security.agents[name] = {"username": creds.username, "password": creds.password,
                                 "tls": creds.tls()}
    creds = broker.credentials(OPERATOR)
    security.requester = {"org": OPERATOR.ref.org, "unit": OPERATOR.ref.unit,
                          "requester_id": OPERATOR.ref.name, "username": creds.username,
                          "password": creds.password, "tls": creds.tls()}
    out(f"identity  operator {OPERATOR.ref} may call its own org, plus a grant for "
        f"{', '.join(str(g) for g in OPERATOR.grants)}")
    security.ca_file = str(broker.ca_file)
    # Hook (bearer tokens, signed cards): add "a2a-authorization" credentials to
    # security.requester and signing keys to security.agents[name] here.
    return broker.url, security


async def _show_refusal(url: str, ca_file: str, out: Printer) -> None:
    """One attempt without credentials, to show the broker refuses it."""
    from a2a_mqtt.errors import ConnectError  # noqa: PLC0415
    from a2a_mqtt.transport import BrokerURL, ConnectOptions, TLSConfig  # noqa: PLC0415
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


async def run_demo(config: DemoConfig, out: Printer = print) -> None:
    """Run the whole demo; returns when it has finished (about a second)."""
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
        configs = [AgentConfig(ref=AgentRef.parse(EXAMPLES[name].default_ref),
                               card=EXAMPLES[name].card(), executor=EXAMPLES[name].executor(),
                               broker_url=url, session_expiry=0,
                               **security.agents.get(name, {}))
                   for name in config.agents]
        host = await stack.enter_async_context(AgentHost(configs))
        out(f"agents    {len(host.servers)} agents serving, each with its own MQTT session")
        if security.ca_file is not None:
            await _show_refusal(url, security.ca_file, out)
        mqtt = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
            broker_url=url, **security.requester)))
        out("discover  retained Agent Cards on $a2a/v1/discovery/#:")
        for entry in mqtt.discovery.list():
            out(f"    {entry.ref!s:<32} {entry.status:<7} {entry.name:<16} "
                f"tags={','.join(sorted(entry.tags))}")
        stages = []
        for tag in ("inspection", "quality", "supply-chain"):
            entry = await mqtt.discovery.find(tag=tag)
            out(f"resolve   tag {tag!r:<14} -> {entry.ref}")
            stages.append((tag.split("-")[0], mqtt.client_for(entry)))
        for part in config.parts:
            out(f"part {part}")
            data: dict[str, Any] = {"part": part}
            for label, client in stages:
                data = await _call(client, data, out, label)
        if "echo" in config.agents:
            echo = await mqtt.connect(EXAMPLES["echo"].default_ref)
            out("echo")
            await _call(echo, "hello over MQTT", out, "echo")
        out("done      stopping agents (their cards are republished offline)")
        await host.__aexit__(None, None, None)
        await mqtt.requester.barrier()
        offline = [e for e in mqtt.discovery.list() if not e.online]
        out(f"presence  {len(offline)} of {len(configs)} agents now marked offline")

