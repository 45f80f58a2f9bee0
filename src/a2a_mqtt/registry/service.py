"""RegistryService: the index, the change feed and the state the HTTP and A2A faces read.

It owns no connection: :class:`~a2a_mqtt.registry.ingest.Ingest` feeds it and,
for the admin operations, publishes on its behalf. Everything here runs on
the event loop; nothing blocks.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from a2a_mqtt.registry.config import RegistryConfig
from a2a_mqtt.registry.entry import Change
from a2a_mqtt.registry.feed import ChangeFeed
from a2a_mqtt.registry.index import RegistryIndex
from a2a_mqtt.registry.ingest import Ingest

if TYPE_CHECKING:
    from a2a_mqtt.observability.registry import RegistryMetrics

__all__ = ["RegistryService"]


class RegistryService:
    """What every face of the registry reads: index, feed, readiness, statistics."""

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.index = RegistryIndex(max_card_bytes=config.max_card_bytes,
                                   card_policy=config.card_policy)
        self.feed = ChangeFeed(ring_size=config.feed_ring_size,
                               queue_size=config.feed_queue_size)
        self.ingest: Ingest | None = None
        self.started_at = time.time()
        self.stale_report: dict[str, Any] | None = None
        self.words_seconds: float | None = None
        """How long linking the search words took after the initial replay."""
        self.words_linked = asyncio.Event()
        """Set once every search word of the replayed cards is linked."""
        self.metrics: RegistryMetrics | None = None
        """Set by the server when metrics are on."""

    def publish(self, changes: list[Change]) -> None:
        """Hand changes made to the index to the feed (Ingest's callback)."""
        if self.metrics is not None:
            self.metrics.changes(changes)
        self.feed.publish(changes)

    @property
    def ready(self) -> bool:
        """Connected and the initial retained replay is fully indexed."""
        ingest = self.ingest
        return ingest is not None and ingest.synced.is_set() and ingest.connected

    def event_id(self) -> str:
        """The feed position of the index as it is now."""
        return self.feed.event_id(self.index.seq)

    def stats(self) -> dict[str, Any]:
        ingest = self.ingest
        cfg = self.config
        return {
            "index": self.index.stats(),
            "ready": self.ready,
            "connected": ingest is not None and ingest.connected,
            "scope": {"org": cfg.org, "unit": cfg.unit},
            "replay": {"seconds": None if ingest is None else ingest.replay_seconds,
                       "cards": 0 if ingest is None else ingest.replay_cards,
                       "wordsSeconds": self.words_seconds},
            "resyncs": 0 if ingest is None else ingest.resyncs,
            "errors": 0 if ingest is None else ingest.errors,
            "ignored": 0 if ingest is None else ingest.ignored,
            "feed": {"eventId": self.event_id(), "subscribers": self.feed.subscribers},
            "stale": self.stale_report,
            "uptimeSeconds": round(time.time() - self.started_at, 3),
        }
