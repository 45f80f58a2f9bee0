"""Deferred copies of workflow requests against real claims tables (SQLite, PostgreSQL).

A supervisor that is not a request's designated one leaves its copy alone for the
grace period; then one read says who holds it. Held: acknowledged and dropped, never
served. Free (the designated supervisor never claimed it): claimed and served here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from a2a_mqtt.mqtt_types import IncomingMessage, PublishProperties
from a2a_mqtt.server.claims import RequestClaims, claim_key
from a2a_mqtt.server.stores import database_url
from a2a_mqtt.workflows.intake import DeferredCopies

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def claims(store_url: str) -> AsyncIterator[RequestClaims]:
    engine: AsyncEngine = create_async_engine(database_url(store_url))
    claims = RequestClaims(engine)
    await claims.initialize()
    try:
        yield claims
    finally:
        await engine.dispose()


class Copy:
    """A request copy and what happened to it."""

    def __init__(self, n: int) -> None:
        self.acked = 0
        self.key = claim_key("$a2a/v1/reply/o/u/r", f"corr-{n}".encode())
        self.msg = IncomingMessage(topic="$a2a/v1/request/wf/test/w", payload=b"{}", qos=1,
                                   retain=False, properties=PublishProperties(),
                                   ack=self._ack)

    def _ack(self) -> None:
        self.acked += 1


async def deferred(claims: RequestClaims, grace: float
                   ) -> tuple[DeferredCopies, list[IncomingMessage], asyncio.Event]:
    served: list[IncomingMessage] = []
    event = asyncio.Event()

    def serve(msg: IncomingMessage) -> None:
        served.append(msg)
        event.set()

    return DeferredCopies(claims=claims, owner="sup-b#1", grace=grace, serve=serve), \
        served, event


async def test_held_copies_are_dropped_and_free_ones_served_after_the_grace(
        claims: RequestClaims) -> None:
    copies, served, event = await deferred(claims, grace=0.05)
    held, free = Copy(1), Copy(2)
    assert await claims.claim(held.key, "sup-a#1")     # the designated one took it
    task = asyncio.create_task(copies.run())
    try:
        copies.put(held.msg, held.key, "sup-a")
        copies.put(free.msg, free.key, "sup-a")
        await asyncio.wait_for(event.wait(), 10)
    finally:
        task.cancel()
    assert served == [free.msg] and free.acked == 0    # serving acknowledges it later
    assert held.acked == 1 and (copies.lost, copies.won, len(copies)) == (1, 1, 0)
    assert not await claims.claim(free.key, "sup-a#1")  # ours now: the late one loses


async def test_a_designated_supervisor_going_offline_makes_its_copies_due_at_once(
        claims: RequestClaims) -> None:
    copies, served, event = await deferred(claims, grace=3600)
    of_a, of_c = Copy(3), Copy(4)
    task = asyncio.create_task(copies.run())
    try:
        copies.put(of_a.msg, of_a.key, "sup-a")
        copies.put(of_c.msg, of_c.key, "sup-c")
        copies.member_gone("sup-a")                     # its Last Will
        await asyncio.wait_for(event.wait(), 10)
    finally:
        task.cancel()
    assert served == [of_a.msg]
    assert len(copies) == 1                             # sup-c's copy keeps waiting
    assert copies.release() == 1 and of_c.acked == 0    # stopping: left unacknowledged


async def test_past_max_waiting_the_copies_are_checked_before_their_grace_in_one_read(
        claims: RequestClaims) -> None:
    """Waiting copies are unacknowledged and the broker's in-flight window is small; but
    checking them must stay one read for many copies, not one per copy."""
    reads = 0
    claim_first = claims.claim_first

    async def counted(keys: list[str], owner: str, *, limit: int = 1) -> list[int]:
        nonlocal reads
        reads += 1
        return await claim_first(keys, owner, limit=limit)

    claims.claim_first = counted  # type: ignore[method-assign]
    copies, served, _event = await deferred(claims, grace=3600)
    copies.max_waiting, copies.min_age = 2, 0.2
    batch = [Copy(10 + i) for i in range(5)]
    for c in batch:
        assert await claims.claim(c.key, "sup-a#1")
    task = asyncio.create_task(copies.run())
    try:
        for c in batch:
            copies.put(c.msg, c.key, "sup-a")
        for _ in range(500):
            if copies.lost == 5:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert [c.acked for c in batch] == [1] * 5 and served == [] and len(copies) == 0
    assert reads == 1                       # all five, once they were old enough
