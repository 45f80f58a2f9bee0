"""Known card churn in, exact registry metrics out of its real /metrics endpoint."""

from __future__ import annotations

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from tests.behaviour.observability.scrape import scrape
from tests.behaviour.registry.conftest import Changes, Publisher, publisher, start_registry
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio
__all__ = ["publisher"]  # the fixture, imported for this module


async def test_registry_counts_follow_card_churn(broker: MosquittoProcess, publisher: Publisher,
                                                 unique_id: str) -> None:
    refs = [AgentRef("acme", "plant", f"{unique_id}-{i}") for i in range(4)]
    async with start_registry(broker.url) as registry, httpx.AsyncClient(timeout=10) as http:
        before = await scrape(http, registry.url)
        assert before.value("a2a_mqtt_registry_cards", a2a_status="online") == 0
        changes = Changes(registry)
        for ref in refs:  # 4 added
            await publisher.card(ref, card_bytes(ref))
        await publisher.card(refs[0], card_bytes(refs[0]), status="offline")  # 1 offline
        await publisher.card(refs[1], card_bytes(refs[1], name="renamed"))  # 1 updated
        await publisher.delete(refs[2])  # 1 removed
        await publisher.card(refs[3], b"{not json")  # a card replaced by garbage: 1 rejected
        #                                            (and the entry it replaced removed)
        await publisher.card(AgentRef("acme", "plant", f"{unique_id}-big"),
                             b'{"name": "' + b"x" * 300_000 + b'"}')  # 1 rejected: size
        kinds = [(await changes.next()).kind for _ in range(10)]
        changes.sub.close()
        assert sorted(kinds) == sorted(["added"] * 4 + ["offline", "updated", "removed",
                                        "removed", "rejected", "rejected"])
        for _ in range(3):
            assert (await http.get(f"{registry.url}/agents")).status_code == 200
        assert (await http.get(f"{registry.url}/agents/acme/plant/nobody")).status_code == 404
        after = await scrape(http, registry.url)

    ingests = "a2a_mqtt_registry_ingests_total"
    assert after.value(ingests, a2a_reason="added") == 4
    assert after.value(ingests, a2a_reason="offline") == 1
    assert after.value(ingests, a2a_reason="updated") == 1
    assert after.value(ingests, a2a_reason="removed") == 2
    assert after.value(ingests, a2a_reason="rejected") == 2
    rejects = "a2a_mqtt_registry_rejects_total"
    assert after.value(rejects, a2a_reason="json") == 1
    assert after.value(rejects, a2a_reason="size") == 1
    assert after.value(rejects) == 2
    cards = "a2a_mqtt_registry_cards"
    assert after.value(cards, a2a_status="online") == 1  # refs[1]
    assert after.value(cards, a2a_status="offline") == 1  # refs[0]
    assert after.value(cards, a2a_status="rejected") == 2
    assert after.value("a2a_mqtt_registry_query_duration_seconds_count", a2a_query="list") == 3
    assert after.value("a2a_mqtt_registry_feed_subscribers") == 0
    http_name = "http_server_requests_total"
    assert after.value(http_name, a2a_service="registry", http_route="/agents",
                       http_response_status_code="200") == 3
    assert after.value(http_name, http_route="/agents/{ref}",
                       http_response_status_code="404") == 1
    assert after.value("a2a_mqtt_ready", a2a_service="registry") == 1
