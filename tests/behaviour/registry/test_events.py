"""The change feed over Server-Sent Events: order, ids, resumption, filters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from tests.behaviour.registry.conftest import Publisher, start_registry
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio


async def sse(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parsed events: {"event", "id", "data"}; comments (pings) skipped."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if event:
                yield event
            event = {}
            continue
        field, _, value = line.partition(": ")
        event[field] = json.loads(value) if field == "data" else value


async def take(events: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [await anext(events) for _ in range(n)]


async def test_events_arrive_in_order_with_increasing_ids_and_resume(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    ref = AgentRef("feed", unique_id, "a")
    other = AgentRef("elsewhere", unique_id, "b")
    async with start_registry(broker.url, heartbeat=0.2) as registry, \
            httpx.AsyncClient(base_url=registry.url, timeout=20) as http:
        async with http.stream("GET", "/events") as all_events, \
                http.stream("GET", "/events", params={"org": "feed"}) as filtered:
            stream, narrow = sse(all_events), sse(filtered)
            await publisher.card(ref, card_bytes(ref))
            await publisher.card(ref, card_bytes(ref, name="Renamed"))
            await publisher.card(ref, card_bytes(ref, name="Renamed"), status="offline",
                                 source="lwt")
            await publisher.card(other, card_bytes(other))
            await publisher.card(ref, b"not a card")
            await publisher.delete(ref)  # deletes the rejected topic: no index change
            await publisher.card(ref, card_bytes(ref))
            await publisher.delete(ref)
            events = await take(stream, 8)
            kinds = [(e["event"], e["data"]["ref"]) for e in events]
            assert kinds == [("added", str(ref)), ("updated", str(ref)), ("offline", str(ref)),
                             ("added", str(other)), ("removed", str(ref)),
                             ("rejected", str(ref)), ("added", str(ref)),
                             ("removed", str(ref))]
            seqs = [int(e["id"].rsplit("-", 1)[1]) for e in events]
            assert seqs == sorted(seqs) and len(set(seqs)) == 8
            assert [e["data"]["seq"] for e in events] == seqs
            assert events[2]["data"]["entry"]["statusSource"] == "lwt"
            assert events[5]["data"]["rejection"]["reasons"][0].startswith(
                "card payload is not JSON")
            narrow_kinds = [e["event"] for e in await take(narrow, 7)]
            assert narrow_kinds == ["added", "updated", "offline", "removed", "rejected",
                                    "added", "removed"]
        # Resume after the third event: exactly the rest, in order.
        headers = {"Last-Event-ID": events[2]["id"]}
        async with http.stream("GET", "/events", headers=headers) as resumed:
            again = await take(sse(resumed), 5)
        assert [e["id"] for e in again] == [e["id"] for e in events[3:]]
        # An id of another instance (or run) gets a resync marker, then live events.
        async with http.stream("GET", "/events",
                               params={"last_event_id": "0badc0de-3"}) as foreign:
            stream = sse(foreign)
            (marker,) = await take(stream, 1)
            assert marker["event"] == "resync" and "re-read GET /agents" in marker["data"][
                "message"]
            await publisher.card(other, b"", status="offline")
            (removed,) = await take(stream, 1)
            assert (removed["event"], removed["data"]["ref"]) == ("removed", str(other))


async def test_list_then_follow_from_its_event_id(broker: MosquittoProcess,
                                                  publisher: Publisher, unique_id: str) -> None:
    first, second = AgentRef("snap", unique_id, "one"), AgentRef("snap", unique_id, "two")
    await publisher.card(first, card_bytes(first))
    async with start_registry(broker.url) as registry, \
            httpx.AsyncClient(base_url=registry.url, timeout=20) as http:
        page = (await http.get("/agents", params={"org": "snap"})).json()
        assert [i["ref"] for i in page["items"]] == [str(first)]
        await publisher.card(second, card_bytes(second))  # happens between list and follow
        async with http.stream("GET", "/events", headers={"Last-Event-ID": page["eventId"]},
                               params={"org": "snap"}) as follow:
            (event,) = await take(sse(follow), 1)
        assert (event["event"], event["data"]["ref"]) == ("added", str(second))


async def test_malformed_stream_queries_are_400(broker: MosquittoProcess) -> None:
    async with start_registry(broker.url) as registry, \
            httpx.AsyncClient(base_url=registry.url) as http:
        response = await http.get("/events", params={"limit": "3"})
        assert response.status_code == 400 and "unknown query parameter 'limit'" in \
            response.json()["message"]
        assert (await http.get("/events", params={"tag": ""})).status_code == 400
