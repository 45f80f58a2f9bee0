"""The HTTP API in process (Starlette app over a real index; no broker needed here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.routing import Route

from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.registry.config import RegistryConfig
from a2a_mqtt.registry.http import create_app
from a2a_mqtt.registry.service import RegistryService
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio
TOKEN = "t0ken-t0ken-t0ken"


def feed(service: RegistryService, ref: AgentRef, body: bytes, status: str = "online") -> None:
    service.publish(service.index.apply(discovery_topic(ref), body, status, "agent", 1.0))


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, RegistryService]]:
    service = RegistryService(RegistryConfig(agent_ref=None, admin_token=TOKEN))
    for i in range(5):
        ref = AgentRef("acme", "plant" if i < 3 else "yard", f"a{i}")
        feed(service, ref, card_bytes(ref, name=f"Agent {i}"), "online" if i % 2 else "offline")
    feed(service, AgentRef("acme", "plant", "broken"), b"{not json")
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        yield client, service


async def test_list_filters_pages_and_totals(api: Any) -> None:
    client, service = api
    response = await client.get("/agents", params={"unit": "plant", "limit": 2})
    assert response.status_code == 200
    data = response.json()
    assert data["total"] == 3 and [i["ref"] for i in data["items"]] == ["acme/plant/a0",
                                                                        "acme/plant/a1"]
    assert data["eventId"] == service.event_id()
    assert data["items"][0]["card"]["name"] == "Agent 0"
    rest = (await client.get("/agents", params={"unit": "plant", "cursor": data["next"]})).json()
    assert [i["ref"] for i in rest["items"]] == ["acme/plant/a2"] and rest["next"] is None
    online = (await client.get("/agents?status=online&card=false")).json()
    assert [i["ref"] for i in online["items"]] == ["acme/plant/a1", "acme/yard/a3"]
    assert "card" not in online["items"][0]
    tagged = (await client.get("/agents?tag=VISION&q=conveyor&input=text/*")).json()
    assert tagged["total"] == 5


@pytest.mark.parametrize(("query", "message"), [
    ("limit=zero", "limit must be an integer"),
    ("colour=red", "unknown query parameter 'colour'"),
    ("org=a%20b", "org 'a b' is not a valid identifier"),
    ("cursor=xyz", "cursor is not valid"),
    ("status=asleep", "status must be one of"),
])
async def test_malformed_queries_are_400_with_a_message(api: Any, query: str,
                                                        message: str) -> None:
    client, _ = api
    response = await client.get(f"/agents?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert message in response.json()["message"]


async def test_get_one_raw_card_and_not_found(api: Any) -> None:
    client, service = api
    one = await client.get("/agents/acme/yard/a3")
    assert one.status_code == 200 and one.json()["status"] == "online"
    assert one.headers["etag"] == f'"{service.index.get("acme/yard/a3").etag}"'
    raw = await client.get("/cards/acme/yard/a3")
    assert raw.content == service.index.get("acme/yard/a3").payload
    missing = await client.get("/agents/acme/yard/nobody")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    rejected = await client.get("/agents/acme/plant/broken")
    assert rejected.status_code == 404 and rejected.json()["error"] == "rejected"
    assert "not JSON" in rejected.json()["rejection"]["reasons"][0]
    bad = await client.get("/agents/acme/plant")
    assert bad.status_code == 400 and "expected org/unit/agent" in bad.json()["message"]


async def test_rejected_stats_health_and_readiness(api: Any) -> None:
    client, _ = api
    rejected = (await client.get("/rejected")).json()
    assert rejected["total"] == 1 and rejected["items"][0]["ref"] == "acme/plant/broken"
    assert (await client.get("/rejected?tag=x")).status_code == 400
    stats = (await client.get("/stats")).json()
    assert stats["index"]["entries"] == 5 and stats["index"]["rejected"] == 1
    assert (await client.get("/health")).json() == {"status": "ok"}
    not_ready = await client.get("/ready")  # no ingest: never connected
    assert not_ready.status_code == 503


async def test_admin_needs_the_token(api: Any) -> None:
    client, _ = api
    body = card_bytes(AgentRef("acme", "plant", "new"))
    assert (await client.put("/agents/acme/plant/new", content=body)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.delete("/agents/acme/plant/a1", headers=wrong)).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    invalid = await client.put("/agents/acme/plant/new", content=b'{"name": 1}', headers=right)
    assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_card"
    assert "(card): 'description' is a required property" in invalid.json()["reasons"]
    big = await client.put("/agents/acme/plant/new", content=b"x" * (300 * 1024), headers=right)
    assert big.status_code == 413
    # Not connected to a broker here: a valid request is refused as unavailable.
    assert (await client.put("/agents/acme/plant/new", content=body,
                             headers=right)).status_code == 503


async def test_admin_disabled_without_a_token() -> None:
    service = RegistryService(RegistryConfig(agent_ref=None))
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        response = await client.delete("/agents/a/b/c", headers={"Authorization": "Bearer x"})
    assert response.status_code == 403 and "disabled" in response.json()["message"]


async def test_openapi_documents_exactly_the_routes(api: Any) -> None:
    client, _ = api
    doc = (await client.get("/openapi.json")).json()
    app = create_app(RegistryService(RegistryConfig(agent_ref=None)))
    routes = {r.path.replace(":path", ""): {m.lower() for m in r.methods or ()} - {"head"}
              for r in app.routes if isinstance(r, Route)}
    documented = {path: set(ops) for path, ops in doc["paths"].items()}
    assert documented == routes
    assert doc["openapi"].startswith("3.1")
