"""Two registry instances on one broker give identical answers (no state of their own)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from tests.behaviour.registry.conftest import Changes, Publisher, start_registry
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio

TAGS = ["inspection", "vision", "logistics", "planning"]
QUERIES: list[dict[str, Any]] = [
    {}, {"limit": 7}, {"org": "o1"}, {"org": "o0", "unit": "u1"}, {"tag": "vision"},
    {"tag": ["vision", "planning"]}, {"status": "offline"}, {"q": "conv"}, {"skill": "s2"},
    {"input": "image/*"}, {"kind": "pool"}, {"name": "agent 1"}, {"card": "false", "limit": 3},
]


def comparable(page: dict[str, Any]) -> dict[str, Any]:
    """An answer without this instance's own observations (change numbers and times)."""
    return {"total": page["total"], "next": page["next"],
            "items": [{k: v for k, v in item.items() if k != "observed"}
                      for item in page["items"]]}


async def all_pages(http: httpx.AsyncClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages = []
    cursor = None
    for _ in range(100):
        page = (await http.get("/agents", params={**params, **(
            {"cursor": cursor} if cursor else {})})).json()
        pages.append(comparable(page))
        cursor = page["next"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")


async def publish_fleet(publisher: Publisher, rnd: random.Random, n: int, unit: str) -> None:
    for i in range(n):
        ref = AgentRef(f"o{i % 3}", f"u{i % 2}", f"{unit}-{i}", pool=i % 11 == 0)
        skills = [{"id": f"s{rnd.randrange(4)}", "name": "Skill", "description": "conveyor",
                   "tags": rnd.sample(TAGS, 2)}]
        body = card_bytes(ref, name=f"Agent {i}", skills=skills,
                          inputs=(rnd.choice(["text/plain", "image/png"]),))
        await publisher.card(ref, body, status=rnd.choice(["online", "offline"]))
    await publisher.card(AgentRef("o0", "u0", f"{unit}-broken"), b"{")


async def test_two_instances_answer_identically(broker: MosquittoProcess, publisher: Publisher,
                                                unique_id: str) -> None:
    rnd = random.Random(42)
    await publish_fleet(publisher, rnd, 60, unique_id)
    async with start_registry(broker.url) as first:
        # The second starts later, after more changes: it only ever sees the retained state.
        changes = Changes(first)
        late = AgentRef("o2", "u1", f"{unique_id}-late")
        await publisher.card(late, card_bytes(late))
        gone = AgentRef("o1", "u1", f"{unique_id}-1")
        await publisher.delete(gone)
        await changes.until(lambda c: c.ref == gone and c.kind == "removed")
        async with start_registry(broker.url) as second, \
                httpx.AsyncClient(base_url=first.url) as a, \
                httpx.AsyncClient(base_url=second.url) as b:
            for params in QUERIES:
                assert await all_pages(a, params) == await all_pages(b, params), params
            ra = (await a.get("/rejected")).json()
            rb = (await b.get("/rejected")).json()
            strip = [{k: v for k, v in i.items() if k != "observed"} for i in ra["items"]]
            assert strip == [{k: v for k, v in i.items() if k != "observed"}
                             for i in rb["items"]]
            assert ra["total"] == 1
            sa = (await a.get("/stats")).json()["index"]
            sb = (await b.get("/stats")).json()["index"]
            for key in ("entries", "online", "offline", "pools", "rejected", "tags", "words"):
                assert sa[key] == sb[key], key
            one = (await a.get(f"/agents/{late}")).json()
            assert one["etag"] == (await b.get(f"/agents/{late}")).json()["etag"]
        changes.close()
