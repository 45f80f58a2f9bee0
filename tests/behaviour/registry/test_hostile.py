"""Hostile and churning discovery traffic against a real Mosquitto (issue 9, items 7 and 8).

* non-retained publishes on a discovery topic never change the index;
* a card that cannot be represented is rejected with a reason, and lookups and
  listings keep answering;
* after a fixed-seed churn of valid, invalid, replaced and cleared cards and
  non-retained noise, what the registry answers over HTTP equals the retained
  state a fresh subscriber reads from the broker, card for card -- for the
  registry that watched the churn live and for one started afterwards.
"""

from __future__ import annotations

import random

import httpx
import pytest

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.transport import PublishProperties
from tests.behaviour.registry.conftest import Publisher, start_registry
from tests.behaviour.registry.views import registry_view, retained_snapshot
from tests.unit.registry.churn import (
    INVALID,
    MAX_CARD_BYTES,
    VALID,
    Retained,
    Step,
    churn,
    expected_index,
    make_step,
    topic_pool,
)

pytestmark = pytest.mark.asyncio


async def send(publisher: Publisher, step: Step) -> None:
    props: list[tuple[str, str]] = []
    if step.status is not None:
        props.append((P.STATUS, step.status))
    if step.source is not None:
        props.append((P.STATUS_SOURCE, step.source))
    await publisher.transport.publish(step.topic, step.payload, qos=1, retain=step.retain,
                                      properties=PublishProperties(user_properties=tuple(props)))


async def test_non_retained_publishes_never_change_the_index(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    ref = AgentRef("acme", "plant", unique_id)
    rnd = random.Random(1)
    card = make_step(ref, "valid", rnd, retain=True, status="online", source="agent")
    async with start_registry(broker.url) as registry:
        ingest = registry.service.ingest
        assert ingest is not None
        await send(publisher, card)
        await ingest.barrier()
        before = registry.service.index.get(ref)
        assert before is not None and before.payload == card.payload
        for family in ("clear", "truncated", "surrogate-name", "valid"):
            await send(publisher, make_step(ref, family, rnd, retain=False, status="offline",
                                            source="lwt"))
        await ingest.barrier()
        assert registry.service.index.get(ref) is before  # not even a status change
        assert registry.service.index.rejected == {} and ingest.ignored == 4
        async with httpx.AsyncClient(base_url=registry.url) as http:
            stats = (await http.get("/stats")).json()
            assert stats["ignored"] == 4 and stats["index"]["rejected"] == 0
        # A retained clear still removes it (the live flag is Retain As Published).
        await send(publisher, make_step(ref, "clear", rnd, retain=True, status=None,
                                        source=None))
        await ingest.barrier()
        assert registry.service.index.get(ref) is None


async def test_unrepresentable_cards_are_rejected_and_listing_keeps_working(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    rnd = random.Random(2)
    good = AgentRef("acme", "plant", f"{unique_id}-a")
    families = ("surrogate-name", "surrogate-tag", "surrogate-key", "float-overflow",
                "int-overflow")
    bad = [AgentRef("acme", "plant", f"{unique_id}-{family}") for family in families]
    async with start_registry(broker.url) as registry:
        assert registry.service.ingest is not None
        await send(publisher, make_step(good, "valid", rnd, retain=True, status=None,
                                        source=None))
        for ref, family in zip(bad, families, strict=True):
            await send(publisher, make_step(ref, family, rnd, retain=True, status=None,
                                            source=None))
        await registry.service.ingest.barrier()
        async with httpx.AsyncClient(base_url=registry.url) as http:
            listed = await http.get("/agents", params={"org": "acme"})
            assert listed.status_code == 200
            assert [i["ref"] for i in listed.json()["items"]] == [str(good)]
            for ref in bad:
                got = await http.get(f"/agents/{ref}")
                assert got.status_code == 404 and got.json()["error"] == "rejected"
                assert (await http.get(f"/cards/{ref}")).status_code == 404
            rejected = (await http.get("/rejected", params={"org": "acme"})).json()
            reasons = {i["ref"]: " ".join(i["reasons"]) for i in rejected["items"]}
            assert set(reasons) == {str(r) for r in bad}
            assert "lone UTF-16 surrogate" in reasons[str(bad[0])]
            assert "overflows a double" in reasons[str(bad[3])]


async def test_index_equals_retained_state_after_churn(
        broker: MosquittoProcess, publisher: Publisher) -> None:
    refs = topic_pool(60)
    model = Retained()
    async with start_registry(broker.url, max_card_bytes=MAX_CARD_BYTES) as live:
        assert live.service.ingest is not None
        for step in churn(refs, 600, seed=11):
            model.apply(step)
            await send(publisher, step)
        await live.service.ingest.barrier()
        broker_state = await retained_snapshot(broker.url)
        # The broker holds what the model says (so the model is a fair judge).
        assert broker_state == {t: (s.payload, s.status, s.source)
                                for t, s in model.state.items()}
        entries, rejected = expected_index(model)
        assert len(entries) > 10 and len(rejected) > 10
        async with start_registry(broker.url, max_card_bytes=MAX_CARD_BYTES) as restarted:
            for registry in (live, restarted):
                view = await registry_view(registry.url)
                assert view.entries == entries
                assert set(view.rejected) == rejected
                assert all(view.rejected.values())  # each listed with its reasons
                assert not [s for s in view.statuses if s >= 500]



async def test_admin_puts_of_every_family_answer_4xx_or_retain(
        broker: MosquittoProcess, unique_id: str) -> None:
    """The admin face with hostile bodies: valid cards are retained, the rest are refused
    with the standard error (400 with reasons, 413 when too large), never a 5xx; what
    ends up retained is what the registry indexed."""
    token = "admin-token-0123456789"
    rnd = random.Random(8)
    families = [f for f in (*VALID, *INVALID) if f != "bad-topic"]
    async with start_registry(broker.url, admin_token=token,
                              max_card_bytes=MAX_CARD_BYTES) as registry:
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=registry.url, headers=auth, timeout=30) as http:
            for i, family in enumerate(families):
                ref = AgentRef("acme", "admin", f"{unique_id}-{i}")
                body = make_step(ref, family, rnd, retain=True, status=None,
                                 source=None).payload
                response = await http.put(f"/agents/{ref}", content=body)
                error = response.json() if response.status_code != 200 else None
                if family in VALID:
                    assert response.status_code == 200, (family, error)
                elif family in ("too-large", "deep") and len(body) > MAX_CARD_BYTES:
                    assert response.status_code == 413, (family, error)
                else:
                    assert response.status_code == 400, (family, error)
                    assert error is not None and error["error"] == "invalid_card"
                    assert error["reasons"]
            first = AgentRef("acme", "admin", f"{unique_id}-0")
            assert (await http.delete(f"/agents/{first}")).status_code == 204
        view = await registry_view(registry.url)
        snapshot = await retained_snapshot(broker.url)
        assert {t: p for t, (p, _, _) in view.entries.items()} == {
            t: p for t, (p, _, _) in snapshot.items()}
        assert len(view.entries) == len(VALID) - 1 and not view.rejected
