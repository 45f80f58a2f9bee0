"""The index follows the retained cards: appear, change, go offline, disappear, get rejected."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server import AgentConfig, AgentHost
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport
from tests.behaviour.registry.conftest import Changes, Publisher, start_registry
from tests.unit.registry.cards import card_bytes, card_dict, payload

pytestmark = pytest.mark.asyncio


async def test_cards_appear_change_go_offline_and_are_removed(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    ref = AgentRef("acme", "plant", unique_id)
    config = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), session_expiry=0)
    async with start_registry(broker.url) as registry:
        changes = Changes(registry)
        host = AgentHost([config])
        await host.__aenter__()
        try:
            added = await changes.next()
            assert (added.kind, added.ref, added.entry.status) == ("added", ref, "online")
            async with httpx.AsyncClient(base_url=registry.url) as http:
                listed = (await http.get("/agents", params={"tag": "echo"})).json()
                assert [i["ref"] for i in listed["items"]] == [str(ref)]
                assert listed["items"][0]["card"]["name"] == "Echo"
        finally:
            await host.__aexit__(None, None, None)  # graceful: republished offline
        offline = await changes.next()
        assert (offline.kind, offline.entry.source) == ("offline", "agent")
        body = card_bytes(ref, name="Echo, renamed")
        await publisher.transport.publish(discovery_topic(ref), body, qos=1, retain=True)
        updated = await changes.next()
        # No status property: read as online (docs/binding.md §4.1).
        assert updated.kind == "online" and updated.entry.derived.name == "Echo, renamed"
        await publisher.card(ref, card_bytes(ref, name="Echo, renamed again"))
        assert (await changes.next()).kind == "updated"
        await publisher.delete(ref)
        removed = await changes.next()
        assert removed.kind == "removed" and registry.service.index.get(ref) is None
        changes.close()


async def test_offline_by_last_will_after_kill_9(broker: MosquittoProcess,
                                                 unique_id: str) -> None:
    ref = AgentRef("acme", "plant", unique_id)
    async with start_registry(broker.url) as registry:
        changes = Changes(registry)
        proc = subprocess.Popen(
            [sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent", str(ref),
             "--broker", broker.url, "--session-expiry", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            online = await changes.until(lambda c: c.ref == ref, timeout=30)
            assert online.kind == "added" and online.entry.status == "online"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            offline = await changes.until(lambda c: c.ref == ref, timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert offline.kind == "offline"
        assert (offline.entry.status, offline.entry.source) == ("offline", "lwt")
        assert offline.entry.derived.name == "Echo"
        changes.close()


async def test_invalid_cards_are_kept_out_with_reasons(broker: MosquittoProcess,
                                                       publisher: Publisher,
                                                       unique_id: str) -> None:
    unit = unique_id
    good = AgentRef("bad", unit, "good")
    missing = card_dict(AgentRef("bad", unit, "missing"))
    del missing["version"], missing["defaultInputModes"]
    no_tags = card_dict(AgentRef("bad", unit, "no-tags"))
    del no_tags["skills"][0]["tags"]
    cases = {
        "missing": payload(missing),
        "no-tags": payload(no_tags),
        "not-json": b"\x00\xffgarbage",
        "huge": b'{"name": "' + b"x" * (300 * 1024) + b'"}',
        "imposter": card_bytes(AgentRef("bad", unit, "somebody-else")),
    }
    for name, body in cases.items():
        await publisher.card(AgentRef("bad", unit, name), body)
    await publisher.card(f"$a2a/v1/discovery/bad/{unit}/sp ace", card_bytes(good))
    await publisher.card(good, card_bytes(good))
    async with start_registry(broker.url, max_card_bytes=256 * 1024) as registry, \
            httpx.AsyncClient(base_url=registry.url) as http:
        listed = (await http.get("/agents", params={"unit": unit})).json()
        assert [i["ref"] for i in listed["items"]] == [str(good)]
        rejected = (await http.get("/rejected", params={"unit": unit, "limit": 100})).json()
        reasons = {i["ref"]: " | ".join(i["reasons"]) for i in rejected["items"]}
        base = f"bad/{unit}"
        assert "'version' is a required property" in reasons[f"{base}/missing"]
        assert "'defaultInputModes' is a required property" in reasons[f"{base}/missing"]
        assert "'tags' is a required property" in reasons[f"{base}/no-tags"]
        assert "not UTF-8" in reasons[f"{base}/not-json"]
        assert "exceeds the limit of 262144 bytes" in reasons[f"{base}/huge"]
        assert f"names bad/{unit}/somebody-else" in reasons[f"{base}/imposter"]
        everything = (await http.get("/rejected", params={"limit": 1000})).json()
        bad_topic = [i for i in everything["items"] if i["ref"] is None]
        assert len(bad_topic) == 1 and "does not name an agent" in bad_topic[0]["reasons"][0]
        assert bad_topic[0]["topic"].endswith("/sp ace")
        one = await http.get(f"/agents/{base}/no-tags")
        assert one.status_code == 404 and one.json()["error"] == "rejected"


async def test_garbage_floods_never_stop_indexing_or_serving(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    async with start_registry(broker.url) as registry, \
            httpx.AsyncClient(base_url=registry.url) as http:
        changes = Changes(registry)
        junk = [b"", b"{", b"[]", b"null", b"\xff" * 1000, b"{}" * 40_000,
                b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"skills": 1.5}',
                payload({**card_dict(AgentRef("x", "y", "z")), "skills": True})]
        for i in range(60):
            body = junk[i % len(junk)]
            await publisher.card(f"$a2a/v1/discovery/junk/{unique_id}/j{i}", body)
            await publisher.card(f"$a2a/v1/discovery/junk/{unique_id}/j{i}/too/deep", body)
        for i in range(0, 60, 7):  # ids that disagree with their topic
            await publisher.card(AgentRef("junk", unique_id, f"j{i}"),
                                 card_bytes(AgentRef("junk", unique_id, f"other{i}")))
        good = AgentRef("junk", unique_id, "survivor")
        await publisher.card(good, card_bytes(good))
        await changes.until(lambda c: c.ref == good and c.kind == "added")
        assert registry.service.ingest is not None and registry.service.ingest.errors == 0
        assert (await http.get("/ready")).status_code == 200
        listed = (await http.get("/agents", params={"unit": unique_id})).json()
        assert [i["ref"] for i in listed["items"]] == [str(good)]
        rejected = (await http.get("/rejected", params={"unit": unique_id,
                                                        "limit": 1000})).json()
        assert rejected["total"] >= 50
        changes.close()


async def test_deletions_while_disconnected_are_caught_up_on_reconnect(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    stays, goes, changes_card = (AgentRef("rc", unique_id, n) for n in ("stays", "goes", "cc"))
    for ref in (stays, goes, changes_card):
        await publisher.card(ref, card_bytes(ref))

    def slow_reconnect(options: ConnectOptions) -> Mqtt5Transport:
        # Wide enough a window to change the broker before the registry is back.
        return Mqtt5Transport(replace(options, reconnect_min_delay=4.0, reconnect_max_delay=4.0))

    async with start_registry(broker.url, transport_factory=slow_reconnect) as registry:
        assert len(registry.service.index.entries) == 3
        changes = Changes(registry)
        await asyncio.to_thread(broker.restart)
        options = ConnectOptions(url=publisher.transport.options.url,
                                 client_id=f"pub2-{unique_id}")
        async with Mqtt5Transport(options) as again:
            await again.publish(discovery_topic(goes), b"", qos=1, retain=True)
            await again.publish(discovery_topic(changes_card),
                                card_bytes(changes_card, name="Changed meanwhile"), qos=1,
                                retain=True)
        assert registry.service.ingest is not None and not registry.service.ingest.connected
        seen = {(await changes.next(30)).kind for _ in range(2)}
        assert seen == {"updated", "removed"}
        index = registry.service.index
        assert index.get(goes) is None and index.get(stays) is not None
        assert index.get(changes_card).derived.name == "Changed meanwhile"  # type: ignore[union-attr]
        assert registry.service.ingest.resyncs == 1
        changes.close()
