"""Signed Agent Cards, verified where cards are read: registry, discovery client, gateway.

One signed agent (it signs on publish) and three cards that must not pass under
``require``: unsigned, tampered after signing (one field changed), and signed by
an untrusted key. Each is rejected with its reason; under ``warn`` it is kept, flagged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from joserfc.jwk import ECKey

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import card_to_dict, encode_card, prepare_card
from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.registry.render import entry_dict
from a2a_mqtt.security.cards import CardPolicy, CardSigner, sign_card_data
from a2a_mqtt.security.keys import load_key_set, new_signing_key, save_key_set
from a2a_mqtt.server import AgentServer
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, PublishProperties
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import requester_config, serve
from tests.behaviour.gateway.conftest import agent_url, known, open_gateway
from tests.behaviour.registry.conftest import start_registry
from tests.behaviour.security.conftest import Issuer

pytestmark = pytest.mark.asyncio

KEY = new_signing_key()
ROGUE = new_signing_key()


def _public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_dict(private=False))


def policy(mode: str = "require") -> CardPolicy:
    return CardPolicy(mode=mode, trusted_keys=[_public(KEY)])  # type: ignore[arg-type]


@dataclass
class Scene:
    signed: AgentServer
    unsigned: AgentRef
    tampered: AgentRef
    wrong_key: AgentRef


def _card_for(broker: MosquittoProcess, ref: AgentRef) -> dict[str, object]:
    return card_to_dict(prepare_card(echo_card(), ref=ref, broker_url=broker.url))


@pytest_asyncio.fixture
async def scene(broker: MosquittoProcess, unique_id: str) -> AsyncIterator[Scene]:
    refs = {n: AgentRef("sig", "unit", f"{n}-{unique_id}")
            for n in ("signed", "unsigned", "tampered", "wrong")}
    tampered = sign_card_data(_card_for(broker, refs["tampered"]), KEY)
    tampered["description"] = "Changed after signing."
    cards = {
        refs["unsigned"]: json.dumps(_card_for(broker, refs["unsigned"])).encode(),
        refs["tampered"]: json.dumps(tampered).encode(),
        refs["wrong"]: json.dumps(sign_card_data(_card_for(broker, refs["wrong"]),
                                                 ROGUE)).encode(),
    }
    options = ConnectOptions(url=BrokerURL.parse(broker.url), client_id=f"pub-{unique_id}")
    props = PublishProperties(user_properties=P.status_properties("online", "agent"))
    async with Mqtt5Transport(options) as pub:
        for ref, body in cards.items():
            await pub.publish(discovery_topic(ref), body, qos=1, retain=True, properties=props)
        async with serve(broker.url, refs["signed"], EchoExecutor(), echo_card(),
                         card_signer=CardSigner(key=KEY)) as server:
            yield Scene(server, refs["unsigned"], refs["tampered"], refs["wrong"])


async def test_agent_signs_what_it_publishes(scene: Scene) -> None:
    payload = encode_card(scene.signed.card)
    check = policy().check(json.loads(payload))
    assert check.verified and check.kid == KEY.kid


async def test_registry_accepts_verified_and_rejects_others_with_reason(
        broker: MosquittoProcess, scene: Scene) -> None:
    async with start_registry(broker.url, card_policy=policy()) as registry:
        index = registry.service.index
        entry = index.get(scene.signed.config.ref)
        assert entry is not None and entry_dict(entry, card=False)["signature"] == {
            "verified": True, "kid": KEY.kid}
        reasons = {ref: index.rejected[discovery_topic(ref)].reasons
                   for ref in (scene.unsigned, scene.tampered, scene.wrong_key)}
        assert index.get(scene.unsigned) is None
    assert reasons[scene.unsigned] == ("signature: card is not signed",)
    assert "does not verify" in reasons[scene.tampered][0]
    assert "not trusted" in reasons[scene.wrong_key][0]


async def test_registry_warn_keeps_unverified_cards_flagged(
        broker: MosquittoProcess, scene: Scene) -> None:
    async with start_registry(broker.url, card_policy=policy("warn")) as registry:
        entry = registry.service.index.get(scene.unsigned)
    assert entry is not None
    assert entry_dict(entry, card=False)["signature"] == {
        "verified": False, "reasons": ["card is not signed"]}


async def test_discovery_client_applies_the_policy(broker: MosquittoProcess,
                                                   scene: Scene) -> None:
    config = requester_config(broker.url, card_policy=policy())
    async with A2AMqttClient(config) as mqtt:
        good = await mqtt.discovery.resolve(scene.signed.config.ref)
        assert good.card is not None and not good.problems
        for ref, why in ((scene.unsigned, "card is not signed"),
                         (scene.tampered, "does not verify"), (scene.wrong_key, "not trusted")):
            entry = mqtt.discovery.get(ref)
            assert entry is not None and entry.card is None, ref
            assert any(why in p for p in entry.problems)
    # Without a policy the same cards are usable: the policy is what refuses them.
    async with A2AMqttClient(requester_config(broker.url)) as plain:
        entry = plain.discovery.get(scene.tampered)
        assert entry is not None and entry.card is not None


async def test_gateway_serves_only_verified_agents_under_require(
        broker: MosquittoProcess, scene: Scene) -> None:
    async with (open_gateway(broker.url, card_policy=policy()) as gw,
                httpx.AsyncClient(timeout=20.0) as http):
        await known(gw, scene.signed.config.ref)
        ok = await http.get(f"{agent_url(gw, scene.signed.config.ref)}"
                            "/.well-known/agent-card.json")
        refused = [await http.get(f"{agent_url(gw, ref)}/.well-known/agent-card.json")
                   for ref in (scene.unsigned, scene.tampered, scene.wrong_key)]
        async with open_gateway(broker.url) as plain:  # no policy: the same card is served
            await known(plain, scene.tampered)
            served = await http.get(f"{agent_url(plain, scene.tampered)}"
                                    "/.well-known/agent-card.json")
    assert ok.status_code == 200 and ok.json()["signatures"]
    assert [r.status_code for r in refused] == [404, 404, 404]
    assert served.status_code == 200


async def test_trusted_jku_keys_are_fetched_over_https(
        broker: MosquittoProcess, issuer: Issuer) -> None:
    # The issuer's JWKS server doubles as the signer's key host: its active key signs.
    signer_key = load_key_set(issuer.directory / "keys.json")[-1]
    data = sign_card_data(card_to_dict(echo_card()), signer_key, jku=issuer.jwks_url)
    trusting = CardPolicy(mode="require", trusted_jku_prefixes=[issuer.server.url + "/"],
                          ca_file=issuer.ca.cert_file)
    before = issuer.server.requests
    await trusting.prefetch(data)
    check = trusting.check(data)
    assert check.verified and check.kid == signer_key.kid
    assert issuer.server.requests == before + 1
    other = CardPolicy(mode="require", trusted_jku_prefixes=["https://keys.example/"],
                       ca_file=issuer.ca.cert_file)
    await other.prefetch(data)
    assert "not under a trusted prefix" in other.check(data).reasons[0]
    assert issuer.server.requests == before + 1  # an untrusted jku is never fetched


async def test_signing_key_rotation(broker: MosquittoProcess, ref: AgentRef,
                                    tmp_path: Path) -> None:
    key_file = tmp_path / "card-keys.json"
    old = new_signing_key()
    save_key_set(key_file, [old])
    signer = CardSigner(key_file=key_file)
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), card_signer=signer) as a:
        first = json.loads(encode_card(a.card))
    new = new_signing_key()
    save_key_set(key_file, [old, new])  # what `a2a-mqtt card rotate` writes
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), card_signer=signer) as a:
        second = json.loads(encode_card(a.card))
    both = CardPolicy(mode="require", trusted_keys=[_public(old), _public(new)])
    only_old = CardPolicy(mode="require", trusted_keys=[_public(old)])
    assert both.check(first).kid == old.kid and both.check(second).kid == new.kid
    assert only_old.check(first).verified and not only_old.check(second).verified
