"""Scrape a real /metrics endpoint and read samples by name and labels."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    samples: list[tuple[str, dict[str, str], float]]

    def value(self, name: str, **labels: str) -> float:
        """The sum of every sample ``name`` whose labels include ``labels``."""
        return sum(v for n, lab, v in self.samples
                   if n == name and all(lab.get(k) == want for k, want in labels.items()))

    def has(self, name: str) -> bool:
        return any(n == name for n, _l, _v in self.samples)


def parse(text: str) -> Scrape:
    return Scrape([(s.name, dict(s.labels), float(s.value))
                   for family in text_string_to_metric_families(text)
                   for s in family.samples])


async def scrape(http: httpx.AsyncClient, base_url: str) -> Scrape:
    response = await http.get(f"{base_url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def settled(http: httpx.AsyncClient, base_url: str, done: Callable[[Scrape], bool], *,
                  timeout: float = 10.0) -> Scrape:
    """Scrape until ``done`` holds (or ``timeout`` passes: the last scrape, for the
    assertions to report): what a service counts when the broker acknowledges a
    publish can come a moment after the subscriber already has the message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await scrape(http, base_url)
        if done(found) or loop.time() >= deadline:
            return found
        await asyncio.sleep(0.02)
