"""Metrics of fleet services, read from their Prometheus text endpoints (``/metrics``).

The dashboard charts only what a configured endpoint answered: with no
endpoint, or none answering, the page says so; it never makes numbers up.
:func:`parse_prometheus` reads the text exposition format's samples (pure).
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

import httpx

__all__ = ["MetricsSources", "parse_prometheus"]

_SAMPLE: Final = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL: Final = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_MAX_SAMPLES: Final = 20_000
_MAX_BYTES: Final = 4 * 1024 * 1024


def parse_prometheus(text: str) -> list[dict[str, Any]]:
    """Samples ``{"name", "labels", "value"}`` of a Prometheus text exposition; lines
    that are not samples (comments, garbage) are skipped, at most 20,000 kept."""
    out: list[dict[str, Any]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(match.group(3) or ""))
        out.append({"name": match.group(1), "labels": labels, "value": value})
        if len(out) >= _MAX_SAMPLES:
            break
    return out


class MetricsSources:
    """The configured ``/metrics`` endpoints, scraped when the page asks."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls

    async def collect(self, http: httpx.AsyncClient) -> dict[str, Any]:
        if not self.urls:
            return {"available": False, "sources": [], "message":
                    "no metrics endpoint is configured (dashboard --metrics-url "
                    "http://service/metrics); nothing to chart"}
        sources = []
        for url in self.urls:
            started = time.perf_counter()
            try:
                resp = await http.get(url, timeout=5.0)
                if resp.status_code != 200:
                    raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request,
                                                response=resp)
                body = resp.content[:_MAX_BYTES].decode("utf-8", "replace")
                sources.append({"url": url, "ok": True, "samples": parse_prometheus(body),
                                "seconds": time.perf_counter() - started})
            except httpx.HTTPError as exc:
                sources.append({"url": url, "ok": False,
                                "message": f"{type(exc).__name__}: {exc}"[:300]})
        return {"available": any(s["ok"] for s in sources), "sources": sources,
                "at": time.time()}
