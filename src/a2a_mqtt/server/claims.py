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
request attempt, identical in every member's copy.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import Column, Float, MetaData, String, Table, delete
from sqlalchemy.ext.asyncio import AsyncEngine

from a2a_mqtt.server.dbops import insert_new, retry_transient

__all__ = ["RequestClaims", "claim_key"]

_META = MetaData()
_TABLE = Table(
    "a2a_mqtt_request_claims", _META,
    Column("key", String(64), primary_key=True),
    Column("owner", String(256), nullable=False),
    Column("claimed_at", Float, nullable=False, index=True),
)


def claim_key(response_topic: str, correlation: bytes | None) -> str:
    """The key every member derives from its copy of one request."""
    digest = hashlib.sha256(response_topic.encode())
    digest.update(b"\0")
    digest.update(correlation or b"")
    return digest.hexdigest()


class RequestClaims:
    """First claim wins; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, ttl: float = 600.0) -> None:
        self._engine = engine
        self.ttl = ttl

    async def initialize(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(_META.create_all)

    async def claim(self, key: str, owner: str) -> bool:
        """True if this call took the key. Transient database errors are retried;
        a persistent one propagates (the caller cannot know who serves the request)."""
        values = {"key": key, "owner": owner, "claimed_at": time.time()}

        async def once() -> bool:
            async with self._engine.begin() as conn:
                return await insert_new(conn, _TABLE, values)

        return await retry_transient(once, what="request claim")

    async def purge(self) -> int:
        """Drop claims older than the TTL; return how many."""
        async def once() -> int:
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(_TABLE).where(
                    _TABLE.c.claimed_at < time.time() - self.ttl))
            return int(result.rowcount or 0)

        return await retry_transient(once, what="claim purge")
