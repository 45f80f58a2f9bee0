"""Claim-mode bookkeeping against real databases: who wins a pool request, and when.

SQLite and PostgreSQL (the machine's server, a throwaway database) both, since
the claim statements are dialect-specific.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from a2a_mqtt.server.claims import RequestClaims, claim_key, claim_owner
from a2a_mqtt.server.dbops import insert_new
from a2a_mqtt.server.inflight import _TABLE as INFLIGHT_TABLE
from a2a_mqtt.server.inflight import DatabaseInflightLog, InflightEntry
from a2a_mqtt.server.stores import database_url

pytestmark = pytest.mark.asyncio

A_OLD, A_NOW, B = claim_owner("o/u/a", "run1"), claim_owner("o/u/a", "run2"), claim_owner(
    "o/u/b", "run1")


@pytest_asyncio.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url(store_url))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture
async def claims(engine: AsyncEngine) -> RequestClaims:
    claims = RequestClaims(engine)
    await claims.initialize()
    return claims


def keys(n: int) -> list[str]:
    return [claim_key("$a2a/v1/reply/o/u/r", f"corr-{i}".encode()) for i in range(n)]


async def test_first_free_key_is_claimed_and_held_ones_are_skipped(
        claims: RequestClaims) -> None:
    k = keys(4)
    assert await claims.claim(k[0], B)
    assert await claims.claim(k[1], B)
    assert await claims.claim_first(k, A_NOW) == [2]
    # Everything before the next free key is held now, by B or by us.
    assert await claims.claim_first(k, A_NOW) == [3]
    assert await claims.claim_first(k, B) == []
    assert await claims.claim_first([], B) == []


async def test_several_free_slots_claim_several_keys_at_once(claims: RequestClaims) -> None:
    k = keys(6)
    assert await claims.claim(k[1], B)
    assert await claims.claim_first(k, A_NOW, limit=3) == [0, 2, 3]
    assert await claims.claim_first(k, B, limit=5) == [4, 5]  # fewer left than asked
    assert await claims.claim_first(k, A_NOW, limit=0) == []


async def test_a_restarted_member_takes_over_its_earlier_runs_claims(
        claims: RequestClaims) -> None:
    k = keys(3)
    assert await claims.claim(k[0], B)
    assert await claims.claim(k[1], A_OLD)  # claimed, then the member died unacknowledged
    assert await claims.claim_first(k, A_NOW) == [1]
    # Once taken over it is this run's: a duplicate copy in this run is not served twice.
    assert await claims.claim_first(k[:2], A_NOW) == []
    # Another member never takes over someone else's claim.
    assert await claims.claim_first(k[:2], B) == []


async def test_concurrent_members_each_win_distinct_keys(claims: RequestClaims) -> None:
    k = keys(12)
    owners = [claim_owner(f"o/u/m{i}", "r") for i in range(6)]

    async def member(owner: str) -> list[str]:
        won = []
        pending = list(k)
        while pending:
            indexes = await claims.claim_first(pending, owner, limit=2)
            if not indexes:
                break
            won.extend(pending[i] for i in indexes)
            pending = pending[indexes[-1] + 1:]
        return won

    results = await asyncio.gather(*(member(o) for o in owners))
    flat = [key for won in results for key in won]
    assert sorted(flat) == sorted(k)  # every key won exactly once
    assert len(set(flat)) == len(flat)


async def test_purge_forgets_only_old_claims(engine: AsyncEngine) -> None:
    claims = RequestClaims(engine, ttl=0.0)
    await claims.initialize()
    assert await claims.claim("old", B)
    assert await claims.purge() == 1
    assert await claims.claim("old", B)  # free again


async def test_insert_new_reports_the_winner(engine: AsyncEngine) -> None:
    log = DatabaseInflightLog(engine)
    await log.initialize()
    entry = InflightEntry(task_id="t-1", message_id="m", owner="a", method="unary",
                          response_topic="r", correlation=b"c", request_id="1")
    assert await log.claim(entry)
    assert not await log.claim(entry)
    await log.release("t-1", "someone-else")
    assert not await log.claim(entry)  # only the holder releases
    await log.release("t-1", "a")
    assert await log.claim(entry)
    async with engine.begin() as conn:
        assert not await insert_new(conn, INFLIGHT_TABLE, {
            "task_id": "t-1", "message_id": "m", "owner": "b", "method": "unary",
            "response_topic": "r", "correlation": None, "request_id": "2",
            "context_id": "", "run": "", "created_at": 0.0})
