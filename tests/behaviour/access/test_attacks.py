"""Attacks on a secure broker, tried by an anonymous client and by valid identities of
other agents, requesters, organisations and roles. Each is denied by the broker as
seen from outside (a refused CONNECT, a failure code in PUBACK/SUBACK, a
disconnect, or nothing delivered), while a real agent keeps serving a real requester.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import discovery_topic, request_topic
from a2a_mqtt.broker.secure import SecureBroker
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import ConnectError, PublishError, SubscribeError
from a2a_mqtt.transport import (
    IncomingMessage,
    Mqtt5Transport,
    MqttTransport,
    PublishProperties,
    Subscription,
)
from tests.behaviour.access.conftest import (
    ATTACKERS,
    CAST,
    OPERATOR,
    PRESS,
    Line,
    options,
    raw,
    requester_settings,
)
from tests.behaviour.conftest import requester_config, text

pytestmark = pytest.mark.asyncio

NOT_AUTHORIZED = 0x87


@asynccontextmanager
async def attacker(secure: SecureBroker, name: str) -> AsyncIterator[MqttTransport | None]:
    """A connected session for ``name``; for ``anonymous`` the broker must refuse the
    CONNECT itself (yields None: the attack cannot even start)."""
    transport = raw(secure, name)
    if name == "anonymous":
        with pytest.raises(ConnectError) as refused:
            await transport.connect()
        assert refused.value.reason_code in (0x86, 0x87)  # bad credentials / not authorized
        yield None
        return
    await transport.connect()
    try:
        yield transport
    finally:
        await transport.disconnect()


async def assert_publish_denied(t: MqttTransport, topic: str, payload: bytes, *,
                                retain: bool = False,
                                properties: PublishProperties | None = None) -> None:
    with pytest.raises(PublishError) as denied:
        await t.publish(topic, payload, qos=1, retain=retain, properties=properties)
    assert denied.value.reason_code == NOT_AUTHORIZED


async def assert_receives_nothing(t: MqttTransport, topic_filter: str, line: Line) -> None:
    """Subscribe; the broker refuses it (SUBACK 0x87) or, if it grants it (Mosquitto's
    acl_file does), delivers no request or reply while legitimate traffic that would
    match flows. (Cards of its own org are its to read: ``$a2a/#`` may bring them.)"""
    got: list[IncomingMessage] = []
    refusal: SubscribeError | None = None
    try:
        await t.subscribe(Subscription(topic_filter, qos=1), got.append)
    except SubscribeError as exc:
        refusal = exc
    assert refusal is None or refusal.reason_code == NOT_AUTHORIZED
    await line.call("traffic the attacker must not see")
    await line.client.requester.barrier()
    org = t.client_id.split("/", 1)[0]
    assert [m.topic for m in got
            if not m.topic.startswith(f"$a2a/v1/discovery/{org}/")] == []


async def genuine_card_intact(line: Line) -> None:
    """An independent observer (a fresh legitimate requester session) still sees the
    agent's own online card."""
    await line.client.requester.barrier()
    entry = line.client.discovery.get(PRESS.ref)
    assert entry is not None and entry.online and entry.status_source == "agent"
    assert entry.card is not None and entry.card.name == line.server.card.name


# -- cards ------------------------------------------------------------------------------

CARD_ATTACKS = {
    "forged-card": (json.dumps({"name": "Evil twin", "version": "6.6.6"}).encode(),
                    P.status_properties("online", "agent")),
    "offline-card": (b"{}", P.status_properties("offline", "agent")),
    "cleared-card": (b"", ()),
}


@pytest.mark.parametrize("attack", sorted(CARD_ATTACKS))
@pytest.mark.parametrize("name", ATTACKERS)
async def test_card_of_another_identity_cannot_be_written(
        secure: SecureBroker, line: Line, name: str, attack: str) -> None:
    payload, props = CARD_ATTACKS[attack]
    async with attacker(secure, name) as t:
        if t is not None:
            await assert_publish_denied(t, discovery_topic(PRESS.ref), payload, retain=True,
                                        properties=PublishProperties(user_properties=props))
    await genuine_card_intact(line)
    await line.call()
    assert line.agent_undisturbed


# -- reading what is not yours ----------------------------------------------------------

def _read_targets() -> list[str]:
    return [f"$a2a/v1/reply/{OPERATOR.ref}/#", "$a2a/v1/reply/#", "$a2a/v1/request/#",
            request_topic(PRESS.ref), "$a2a/#", "#"]


@pytest.mark.parametrize("topic_filter", _read_targets())
@pytest.mark.parametrize("name", ATTACKERS)
async def test_other_requests_and_replies_cannot_be_read(
        secure: SecureBroker, line: Line, name: str, topic_filter: str) -> None:
    async with attacker(secure, name) as t:
        if t is not None:
            await assert_receives_nothing(t, topic_filter, line)
    await line.call()


# -- calling across organisations -------------------------------------------------------

@pytest.mark.parametrize("name", ["anonymous", "other-org", "other-gateway", "dashboard",
                                  "other-registry", "rogue-agent"])
async def test_agent_cannot_be_called_without_a_grant(
        secure: SecureBroker, line: Line, name: str) -> None:
    before = line.executor.executions
    request = json.dumps({"jsonrpc": "2.0", "id": "x", "method": "SendMessage",
                          "params": {}}).encode()
    async with attacker(secure, name) as t:
        if t is not None:
            await assert_publish_denied(
                t, request_topic(PRESS.ref), request,
                properties=PublishProperties(response_topic=f"$a2a/v1/reply/{CAST[name].ref}/x",
                                             correlation_data=b"c"))
    await line.call()
    assert line.executor.executions == before + 1  # only the legitimate call ran


async def test_a_grant_opens_exactly_the_granted_unit(secure: SecureBroker, line: Line) -> None:
    partner = CAST["partner"]
    async with A2AMqttClient(requester_config(
            secure.url, **requester_settings(secure, partner))) as client:
        entry = await client.discovery.resolve(PRESS.ref, timeout=5)
        response = await client.transport_for(entry.ref).send_message(text("granted"))
        assert response.task.artifacts[0].parts[0].text == "granted"
        # The grant names acme/line1: the rest of acme stays closed.
        await assert_publish_denied(client.requester.transport,
                                    "$a2a/v1/request/acme/line2/press", b"{}")


# -- connecting -------------------------------------------------------------------------

async def test_plain_tcp_is_refused(secure: SecureBroker, line: Line) -> None:
    plain = secure.url.replace("mqtts://", "mqtt://")
    with pytest.raises(ConnectError):
        await raw(secure, "spy-requester", url=plain).connect()
    listeners = [ln for ln in secure.embedded.process.config_path.read_text().splitlines()
                 if ln.startswith("listener ")]
    assert len(listeners) == 1  # the TLS one: nothing speaks plain MQTT
    await line.call()


async def test_wrong_password_is_refused(secure: SecureBroker, line: Line) -> None:
    good = options(secure, "spy-requester")
    with pytest.raises(ConnectError) as refused:
        await Mqtt5Transport(dataclasses.replace(good, password="guess")).connect()
    assert refused.value.reason_code in (0x86, 0x87)
    await line.call()


@pytest.mark.parametrize("name", ["rogue-agent", "spy-requester", "other-org", "dashboard"])
@pytest.mark.parametrize("victim", ["press", "operator", "unregistered"])
async def test_client_id_is_bound_to_the_identity(
        secure: SecureBroker, line: Line, name: str, victim: str) -> None:
    client_id = "acme/line1/nobody" if victim == "unregistered" else CAST[victim].client_id
    impostor = raw(secure, name, client_id=client_id)
    if secure.config.auth == "dynsec":
        with pytest.raises(ConnectError) as refused:
            await impostor.connect()
        assert refused.value.reason_code == NOT_AUTHORIZED
    else:
        # use_username_as_clientid: admitted, but under its own identity's Client ID.
        await impostor.connect()
        await impostor.disconnect()
    # The live agent was not taken over (a session takeover would drop it).
    assert line.agent_undisturbed
    await line.call()


async def test_anonymous_with_an_agents_client_id_cannot_kick_it(
        secure: SecureBroker, line: Line) -> None:
    with pytest.raises(ConnectError):
        await raw(secure, "anonymous", client_id=PRESS.client_id).connect()
    assert line.agent_undisturbed
    await genuine_card_intact(line)
    await line.call()


# -- reflection, closed at the broker ---------------------------------------------------

REFLECTION_TARGETS = {
    "discovery": discovery_topic(PRESS.ref),
    "own-discovery-of-a-pool": "$a2a/v1/discovery/acme/line1/pool/presses",
    "request": request_topic(PRESS.ref),
    "event-of-another": f"$a2a/v1/event/{PRESS.ref}",
}


@pytest.mark.parametrize("target", sorted(REFLECTION_TARGETS))
async def test_agent_cannot_be_reflected_onto_other_topics(
        secure: SecureBroker, line: Line, target: str) -> None:
    """What a crafted Response Topic would make an agent publish: its identity's
    publish there is refused (the agent-side check is the server's own)."""
    async with attacker(secure, "rogue-agent") as t:
        assert t is not None
        await assert_publish_denied(t, REFLECTION_TARGETS[target], b'{"jsonrpc":"2.0"}')
        # Its legitimate reply path stays open.
        await t.publish(f"$a2a/v1/reply/{OPERATOR.ref}/reflected", b"{}", qos=1)
    await genuine_card_intact(line)
    await line.call()


async def test_publish_to_sys_drops_the_reflected_connection(
        secure: SecureBroker, line: Line) -> None:
    t = raw(secure, "rogue-agent")
    lost = asyncio.Event()
    t.on_connection_change(lambda up: None if up else lost.set())
    await t.connect()
    try:
        with pytest.raises((PublishError, ConnectError, TimeoutError)):
            async with asyncio.timeout(5):
                await t.publish("$SYS/broker/uptime", b"0", qos=1)
        await asyncio.wait_for(lost.wait(), 5)
    finally:
        await t.disconnect()
    await line.call()
