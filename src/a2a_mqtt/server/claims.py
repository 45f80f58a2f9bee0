"""Competing consumers for brokers whose shared subscriptions miss ``$`` topics.

Mosquitto 2.0.11 (Debian 12's) never delivers a ``$a2a/...`` PUBLISH to a
``$share/...`` subscription, so a pool cannot rely on the broker to pick one
member there. Members then subscribe to the pool topic normally — every member
receives every request — and the first to claim the request's key here
serves it; the others drop their copy. A member claims only once it has a free
slot, so the least busy member tends to win, which is the balancing the broker
would otherwise do. Claims are kept for ``ttl`` seconds (a late copy must still
lose) and purged after.

The key is the request's Response Topic and Correlation Data: unique per
request attempt, identical in every member's copy. The owner is the member's
client id and its run (``client#run``): a copy that the broker redelivers to a
restarted member was never acknowledged, so that member never finished it —
if its claim is held by an earlier run of the same member, the new run takes
the claim over instead of dropping the copy as another member's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    MetaData,
    String,
    Table,
    any_,
    delete,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from a2a_mqtt.server.dbops import autocommit, insert_new, retry_transient

__all__ = ["RequestClaims", "claim_key", "claim_owner"]

_META = MetaData()
_TABLE = Table(
    "a2a_mqtt_request_claims", _META,
    Column("key", String(64), primary_key=True),
    Column("owner", String(256), nullable=False),
    Column("claimed_at", Float, nullable=False, index=True),
)


def claim_owner(client_id: str, run: str) -> str:
    """The owner recorded for claims made by run ``run`` of member ``client_id``."""
    return f"{client_id}#{run}"


def _member(owner: str) -> str:
    return owner.rpartition("#")[0] or owner


def claim_key(response_topic: str, correlation: bytes | None) -> str:
    """The key every member derives from its copy of one request."""
    digest = hashlib.sha256(response_topic.encode())
    digest.update(b"\0")
    digest.update(correlation or b"")
    return digest.hexdigest()


def _held_among(dialect: str, keys: Sequence[str]) -> Any:
    """``key IN (...)``; on PostgreSQL ``key = ANY(:array)``, one statement text for any
    number of keys, so the server-side prepared statement is reused (an expanding
    ``IN`` is a new statement, prepared again, for every batch size)."""
    if dialect == "postgresql":
        return _TABLE.c.key == any_(literal(list(keys), ARRAY(String)))
    return _TABLE.c.key.in_(list(keys))


class RequestClaims:
    """First claim wins; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, ttl: float = 600.0) -> None:
        self._engine = engine
        self._single = autocommit(engine)
        self.ttl = ttl

    async def initialize(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_META.create_all)

    async def claim(self, key: str, owner: str) -> bool:
        """True if this call took the key. Transient database errors are retried;
        a persistent one propagates (the caller cannot know who serves the request)."""
        values = {"key": key, "owner": owner, "claimed_at": time.time()}

        async def once() -> bool:
            async with self._single.connect() as conn:
                return await insert_new(conn, _TABLE, values)

        return await retry_transient(once, what="request claim")

    async def claim_first(self, keys: Sequence[str], owner: str, *,
                          limit: int = 1) -> list[int]:
        """Claim, in order, the first ``limit`` of ``keys`` that no other member holds;
        their indexes (ascending). Every other key up to the last index returned — and
        every key, if fewer than ``limit`` were claimed — is held by another member.

        A read of who holds the keys, then a write for each free one (or one held by
        an earlier run of ``owner``'s member) until ``limit`` are won; a write loses
        only when another member claims that key between the read and the write. No
        transaction is needed: a held key stays held until purged, so the read is only
        a hint that saves attempts, and each write decides atomically on its own.
        """
        if not keys or limit < 1:
            return []
        now = time.time()
        member = _member(owner)

        async def once() -> list[int]:
            won: list[int] = []
            async with self._single.connect() as conn:
                rows = await conn.execute(select(_TABLE.c.key, _TABLE.c.owner).where(
                    _held_among(conn.dialect.name, keys)))
                holders: dict[str, str] = {row.key: row.owner for row in rows}
                for index, key in enumerate(keys):
                    holder = holders.get(key)
                    if holder is None:
                        ok = await insert_new(conn, _TABLE, {
                            "key": key, "owner": owner, "claimed_at": now})
                    elif holder != owner and _member(holder) == member:
                        ok = await self._take_over(conn, key, holder, owner, now)
                    else:
                        continue
                    if ok:
                        won.append(index)
                        if len(won) == limit:
                            break
            return won

        return await retry_transient(once, what="request claim")

    @staticmethod
    async def _take_over(conn: AsyncConnection, key: str, holder: str, owner: str,
                         now: float) -> bool:
        result = await conn.execute(update(_TABLE).where(
            (_TABLE.c.key == key) & (_TABLE.c.owner == holder)).values(
            owner=owner, claimed_at=now))
        return bool(result.rowcount == 1)

    async def purge(self) -> int:
        """Drop claims older than the TTL; return how many."""
        async def once() -> int:
            async with self._single.connect() as conn:
                result = await conn.execute(delete(_TABLE).where(
                    _TABLE.c.claimed_at < time.time() - self.ttl))
            return int(result.rowcount or 0)

        return await retry_transient(once, what="claim purge")
