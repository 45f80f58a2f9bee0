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

from a2a_mqtt.observability import names as N

__all__ = ["MetricsSources", "parse_prometheus", "quantile", "summarize"]

# Series and label names are derived from a2a_mqtt/observability/names.py (the one
# source of truth; tests/unit/dashboard/test_metric_names.py checks them against a
# real scrape), never spelled out here.
REQUESTS: Final = N.prometheus_name(N.SERVER_REQUESTS)
DURATION: Final = N.prometheus_name(N.SERVER_DURATION)
REGISTRY_CARDS: Final = N.prometheus_name(N.REGISTRY_CARDS)
HTTP_REQUESTS: Final = N.prometheus_name(N.HTTP_REQUESTS)
AGENT: Final = N.prometheus_label(N.AGENT)
OUTCOME: Final = N.prometheus_label(N.RPC_OUTCOME)
STATUS: Final = N.prometheus_label(N.STATUS)
SERVICE: Final = N.prometheus_label(N.SERVICE)
ERROR_OUTCOME: Final = "error"  # the a2a.outcome value of an error reply (observability/agent.py)
USED: Final = ((N.SERVER_REQUESTS, (N.AGENT, N.RPC_OUTCOME)), (N.SERVER_DURATION, (N.AGENT,)),
               (N.REGISTRY_CARDS, (N.STATUS,)), (N.HTTP_REQUESTS, (N.SERVICE,)))
"""The instruments the dashboard reads, with the attribute keys it groups by."""
QUANTILES: Final = (0.5, 0.95, 0.99)

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


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(le, count), ...]``, interpolated
    linearly inside its bucket (as PromQL's histogram_quantile); None when empty."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower_le  # beyond the last finite bound: its lower edge
            width = count - lower_count
            return lower_le + (le - lower_le) * ((rank - lower_count) / width if width else 0)
        lower_le, lower_count = le, count
    return buckets[-1][0]


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Fleet and per-agent figures from the series a2a-mqtt services export (cumulative
    since each process started): requests, errors, latency quantiles; registry cards by
    status; HTTP requests by service. Empty parts are left out, never zero-filled."""
    agents: dict[str, dict[str, Any]] = {}
    fleet_buckets: dict[float, float] = {}
    cards: dict[str, float] = {}
    http: dict[str, float] = {}

    def agent(name: str) -> dict[str, Any]:
        return agents.setdefault(name, {"requests": 0.0, "errors": 0.0, "buckets": {}})

    for s in samples:
        name, labels, value = s["name"], s["labels"], s["value"]
        if name == REQUESTS:
            a = agent(labels.get(AGENT, "?"))
            a["requests"] += value
            if labels.get(OUTCOME) == ERROR_OUTCOME:
                a["errors"] += value
        elif name == f"{DURATION}_bucket" and "le" in labels:
            try:
                le = float(labels["le"].replace("+Inf", "inf"))
            except ValueError:
                continue
            b = agent(labels.get(AGENT, "?"))["buckets"]
            b[le] = b.get(le, 0.0) + value
            fleet_buckets[le] = fleet_buckets.get(le, 0.0) + value
        elif name == REGISTRY_CARDS:
            status = labels.get(STATUS, "?")
            cards[status] = cards.get(status, 0.0) + value
        elif name == HTTP_REQUESTS:
            service = labels.get(SERVICE, "?")
            http[service] = http.get(service, 0.0) + value

    def figures(requests: float, errors: float, buckets: dict[float, float]) -> dict[str, Any]:
        pairs = list(buckets.items())
        return {"requests": requests, "errors": errors,
                "errorRate": errors / requests if requests else None,
                "latency": {f"p{round(q * 100)}": quantile(pairs, q) for q in QUANTILES}}

    out: dict[str, Any] = {}
    if agents:
        out["agents"] = {n: figures(a["requests"], a["errors"], a["buckets"])
                         for n, a in sorted(agents.items())}
        out["fleet"] = figures(sum(a["requests"] for a in agents.values()),
                               sum(a["errors"] for a in agents.values()), fleet_buckets)
    if cards:
        out["registryCards"] = cards
    if http:
        out["httpRequests"] = http
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
        sources: list[dict[str, Any]] = []
        merged: list[dict[str, Any]] = []
        for url in self.urls:
            started = time.perf_counter()
            try:
                resp = await http.get(url, timeout=5.0)
                if resp.status_code != 200:
                    raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request,
                                                response=resp)
                body = resp.content[:_MAX_BYTES].decode("utf-8", "replace")
                samples = parse_prometheus(body)
                merged += samples
                sources.append({"url": url, "ok": True, "samples": samples,
                                "seconds": time.perf_counter() - started})
            except httpx.HTTPError as exc:
                sources.append({"url": url, "ok": False,
                                "message": f"{type(exc).__name__}: {exc}"[:300]})
        return {"available": any(s["ok"] for s in sources), "sources": sources,
                "summary": summarize(merged), "at": time.time()}
