"""Discovery from retained cards: filters, resolve, watch, bad cards."""

from __future__ import annotations

import asyncio

import pytest

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient, AgentEntry
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import DiscoveryError
from a2a_mqtt.examples.basic import EchoExecutor, GreeterExecutor, echo_card, greeter_card
from a2a_mqtt.examples.factory import InspectionExecutor, inspection_card
from a2a_mqtt.server import AgentConfig, AgentHost
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, PublishProperties
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import requester_config

pytestmark = pytest.mark.asyncio


def _configs(url: str, tag: str) -> list[AgentConfig]:
    return [
        AgentConfig(ref=AgentRef("acme", "plant-a", f"echo-{tag}"), card=echo_card(),
                    executor=EchoExecutor(), connection=ConnectionSettings(url=url),
                    session_expiry=0),
        AgentConfig(ref=AgentRef("acme", "plant-b", f"greeter-{tag}"), card=greeter_card(),
                    executor=GreeterExecutor(), connection=ConnectionSettings(url=url),
                    session_expiry=0),
        AgentConfig(ref=AgentRef("other", "plant-a", f"inspect-{tag}"), card=inspection_card(),
                    executor=InspectionExecutor(), connection=ConnectionSettings(url=url),
                    session_expiry=0),
    ]


async def test_filters_by_org_unit_skill_tag_name_and_status(
        broker: MosquittoProcess, unique_id: str) -> None:
    async with AgentHost(_configs(broker.url, unique_id)) as host:
        async with A2AMqttClient(requester_config(broker.url)) as mqtt:
            d = mqtt.discovery

            def refs(entries: list[AgentEntry]) -> set[str]:
                return {str(e.ref) for e in entries}

            assert len(d.list()) == 3
            assert refs(d.list(org="acme")) == {f"acme/plant-a/echo-{unique_id}",
                                                f"acme/plant-b/greeter-{unique_id}"}
            assert refs(d.list(org="acme", unit="plant-b")) == {
                f"acme/plant-b/greeter-{unique_id}"}
            assert refs(d.list(skill="greet")) == {f"acme/plant-b/greeter-{unique_id}"}
            assert refs(d.list(tag="INSPECTION")) == {f"other/plant-a/inspect-{unique_id}"}
            assert refs(d.list(name="echo")) == {f"acme/plant-a/echo-{unique_id}"}
            assert len(d.list(online=True)) == 3 and d.list(online=False) == []
            found = await d.find(tag="multi-turn")
            assert found.ref == AgentRef("acme", "plant-b", f"greeter-{unique_id}")
            with pytest.raises(DiscoveryError, match="no online agent"):
                await d.find(tag="does-not-exist", timeout=0.2)
            await host.servers[0].stop()
            await mqtt.requester.barrier()
            assert refs(d.list(online=False)) == {f"acme/plant-a/echo-{unique_id}"}
            assert d.get(f"acme/plant-a/echo-{unique_id}").status_source == "agent"  # type: ignore[union-attr]


async def test_scoped_discovery_sees_only_its_org(broker: MosquittoProcess,
                                                  unique_id: str) -> None:
    async with AgentHost(_configs(broker.url, unique_id)):
        async with A2AMqttClient(requester_config(broker.url), org="other") as mqtt:
            assert [e.ref.org for e in mqtt.discovery.list()] == ["other"]


async def test_watch_reports_added_offline_removed_in_order(
        broker: MosquittoProcess, unique_id: str) -> None:
    ref = AgentRef("acme", "watch", unique_id)
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        events = mqtt.discovery.watch(include_existing=False)
        config = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                             connection=ConnectionSettings(url=broker.url), session_expiry=0)
        async with AgentHost([config]):
            added = await asyncio.wait_for(anext(events), 5)
        offline = await asyncio.wait_for(anext(events), 5)
        # Unregister: an empty retained payload deletes the card.
        await mqtt.requester.transport.publish(discovery_topic(ref), b"", qos=1, retain=True)
        removed = await asyncio.wait_for(anext(events), 5)
        await events.aclose()
    assert (added.kind, added.entry.ref, added.entry.online) == ("added", ref, True)
    assert (offline.kind, offline.entry.online) == ("offline", False)
    assert removed.kind == "removed"
    assert mqtt.discovery.get(ref) is None


async def test_malformed_cards_do_not_break_discovery(broker: MosquittoProcess,
                                                      unique_id: str) -> None:
    url = BrokerURL.parse(broker.url)
    async with Mqtt5Transport(ConnectOptions(url=url, client_id=f"pub-{unique_id}")) as pub:
        base = f"$a2a/v1/discovery/bad/{unique_id}"
        await pub.publish(f"{base}/garbage", b"\xff not json", qos=1, retain=True)
        await pub.publish(f"{base}/array", b"[1,2,3]", qos=1, retain=True)
        await pub.publish(f"{base}/no-tags", b'{"name":"x","description":"d","version":"1",'
                          b'"supportedInterfaces":[],"capabilities":{},"defaultInputModes":[],'
                          b'"defaultOutputModes":[],"skills":[{"id":"s","name":"s",'
                          b'"description":"d"}]}', qos=1, retain=True,
                          properties=PublishProperties(user_properties=(("a2a-status", "weird"),)))
    async with A2AMqttClient(requester_config(broker.url), org="bad") as mqtt:
        entries = {e.ref.name: e for e in mqtt.discovery.entries()}
        garbage = entries["garbage"]
        assert garbage.card is None
        assert "not UTF-8 JSON" in garbage.problems[0]
        assert entries["array"].card is None
        lenient = entries["no-tags"]
        assert lenient.card is not None and lenient.status == "unknown"
        assert any("tags" in p for p in lenient.problems)
        # Unparseable cards are not listed as usable agents; the lenient one is.
        assert [e.ref.name for e in mqtt.discovery.list()] == ["no-tags"]
        with pytest.raises(DiscoveryError):
            await mqtt.discovery.resolve(f"bad/{unique_id}/garbage", timeout=0.2)
