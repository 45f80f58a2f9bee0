"""Admin register/delete over HTTP, and the opt-in stale-card policy, on a real broker."""

from __future__ import annotations

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.registry import StalePolicy
from tests.behaviour.conftest import requester_config
from tests.behaviour.registry.conftest import Changes, Publisher, start_registry
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio
TOKEN = "registry-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_admin_registers_and_deletes_retained_cards(broker: MosquittoProcess,
                                                          unique_id: str) -> None:
    ref = AgentRef("adm", unique_id, "http-only")
    async with start_registry(broker.url, admin_token=TOKEN, org="adm") as registry, \
            httpx.AsyncClient(base_url=registry.url) as http:
        body = card_bytes(ref)
        refused = await http.put(f"/agents/{ref}", content=body)
        assert refused.status_code == 401
        put = await http.put(f"/agents/{ref}", content=body, headers=AUTH,
                             params={"status": "offline"})
        assert put.status_code == 200, put.text
        assert put.json()["status"] == "offline" and put.json()["statusSource"] == "registry"
        # It is really retained on the broker: plain discovery sees it.
        async with A2AMqttClient(requester_config(broker.url), org="adm") as mqtt:
            entry = mqtt.discovery.get(ref)
            assert entry is not None and entry.status_source == "registry"
        wrong = await http.put(f"/agents/{AgentRef('adm', unique_id, 'other')}", content=body,
                               headers=AUTH)
        assert wrong.status_code == 400 and "routing extension names" in wrong.json()["message"]
        outside = await http.put(f"/agents/elsewhere/{unique_id}/x",
                                 content=card_bytes(AgentRef("elsewhere", unique_id, "x")),
                                 headers=AUTH)
        assert outside.status_code == 400 and outside.json()["error"] == "out_of_scope"
        deleted = await http.delete(f"/agents/{ref}", headers=AUTH)
        assert deleted.status_code == 204
        assert (await http.get(f"/agents/{ref}")).status_code == 404
        assert (await http.delete(f"/agents/{ref}", headers=AUTH)).status_code == 404


async def test_stale_cards_are_cleared_and_dry_run_only_reports(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    gone, alive = AgentRef("st", unique_id, "gone"), AgentRef("st", unique_id, "alive")
    await publisher.card(gone, card_bytes(gone), status="offline", source="lwt")
    await publisher.card(alive, card_bytes(alive))
    policy = StalePolicy(max_offline_age=0.0, dry_run=True, interval=3600)
    async with start_registry(broker.url, stale=policy) as registry:
        sweeper = registry.sweeper
        assert sweeper is not None
        assert await sweeper.sweep_once() == [str(gone)]
        assert registry.service.index.get(gone) is not None  # dry run: nothing published
        await registry.service.ingest.barrier()  # type: ignore[union-attr]
        assert registry.service.index.get(gone) is not None
        assert registry.service.stale_report is not None
        assert registry.service.stale_report["candidates"] == [str(gone)]
    policy = StalePolicy(max_offline_age=0.0, interval=3600)
    async with start_registry(broker.url, stale=policy) as registry:
        changes = Changes(registry)
        assert registry.sweeper is not None
        assert await registry.sweeper.sweep_once() == [str(gone)]
        removed = await changes.next()
        assert (removed.kind, removed.ref) == ("removed", gone)
        assert registry.service.index.get(alive) is not None
        changes.close()
    async with start_registry(broker.url) as fresh:  # the card is gone from the broker
        assert fresh.service.index.get(gone) is None


async def test_a_young_offline_card_is_kept(broker: MosquittoProcess, publisher: Publisher,
                                            unique_id: str) -> None:
    ref = AgentRef("st", unique_id, "napping")
    await publisher.card(ref, card_bytes(ref), status="offline")
    async with start_registry(broker.url, stale=StalePolicy(max_offline_age=3600)) as registry:
        assert registry.sweeper is not None
        assert await registry.sweeper.sweep_once() == []
        assert registry.service.index.get(ref) is not None
