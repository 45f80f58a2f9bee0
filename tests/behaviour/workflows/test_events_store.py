"""The stages' dedup store on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio

import pytest

from a2a_mqtt.workflows.events_store import DedupStore

pytestmark = pytest.mark.asyncio


async def test_a_finished_event_is_remembered_once_across_connections(store_url: str) -> None:
    async with DedupStore(store_url) as store:
        assert await store.outcome("line", "judge", "e1") is None
        # Two deliveries of one event finishing at once: one row, no error.
        await asyncio.gather(store.finish("line", "judge", "e1", "result"),
                             store.finish("line", "judge", "e1", "result"))
        await store.finish("line", "book", "e1", "error")
    async with DedupStore(store_url) as reopened:   # durable: a restarted stage sees it
        assert await reopened.outcome("line", "judge", "e1") == "result"
        assert await reopened.outcome("line", "book", "e1") == "error"
        assert await reopened.outcome("other", "judge", "e1") is None
