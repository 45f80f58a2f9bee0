"""The stale-card policy: clear cards that stayed offline too long (opt-in).

Every ``policy.every`` seconds the sweeper lists entries offline since before
``now - max_offline_age`` (ages as observed by this instance) and clears each
with an empty retained publish -- or, in dry-run mode, only reports it. Just
before clearing, it re-checks that the entry is still the same offline one, so
an agent that came back in the meantime keeps its card.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from a2a_mqtt.errors import TransportError
from a2a_mqtt.registry.config import StalePolicy
from a2a_mqtt.registry.render import iso
from a2a_mqtt.registry.service import RegistryService

__all__ = ["StaleSweeper"]

log = logging.getLogger("a2a_mqtt.registry")


class StaleSweeper:
    """Runs the stale-card policy against one registry service."""

    def __init__(self, service: RegistryService, policy: StalePolicy, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.policy = policy
        self._clock = clock
        self.cleared = 0

    async def sweep_once(self) -> list[str]:
        """One sweep; the references cleared (or, in dry run, that would be)."""
        index = self.service.index
        now = self._clock()
        stale = index.offline_since_before(now - self.policy.max_offline_age)
        done: list[str] = []
        for entry in stale:
            if index.get(entry.ref) is not entry:
                continue  # changed since the listing (e.g. back online)
            if self.policy.dry_run:
                log.info("stale (dry run): would clear %s, offline since %s", entry.key,
                         iso(entry.status_since))
                done.append(entry.key)
                continue
            ingest = self.service.ingest
            if ingest is None or not ingest.connected:
                break
            try:
                await ingest.publish_card(entry.ref, b"")
            except (TransportError, TimeoutError) as exc:
                log.warning("stale: could not clear %s: %s", entry.key, exc)
                continue
            log.info("stale: cleared %s, offline since %s", entry.key, iso(entry.status_since))
            self.cleared += 1
            done.append(entry.key)
        self.service.stale_report = {
            "maxOfflineAge": self.policy.max_offline_age, "dryRun": self.policy.dry_run,
            "lastSweep": iso(now), "candidates": done[:100], "candidateCount": len(done),
            "cleared": self.cleared}
        return done

    async def run(self) -> None:
        """Sweep every ``policy.every`` seconds until cancelled; a failed sweep is logged."""
        while True:
            await asyncio.sleep(self.policy.every)
            try:
                await self.sweep_once()
            except Exception:
                log.exception("stale sweep failed")
