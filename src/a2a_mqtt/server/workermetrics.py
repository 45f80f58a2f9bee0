"""One ``/metrics``, ``/healthz``, ``/readyz`` for an agent served by worker processes.

Each worker serves its own figures on a loopback port the kernel picks (one port
cannot be bound by N processes). The supervisor serves the operator's port: a
scrape there fetches every worker's ``/metrics`` and answers one exposition in
which each sample carries a ``worker`` label (``sum by (...)`` gives the agent's
totals; ``worker`` tells the processes apart), plus the supervisor's own
``a2a_mqtt_worker_up`` and ``a2a_mqtt_worker_restarts_total``. ``/readyz`` is ready
when the card's session is connected and every worker says ready.

:func:`merge_expositions` is pure; :class:`WorkersApp` is the ASGI face.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from starlette.types import Receive, Scope, Send

from a2a_mqtt.observability.http import answer

__all__ = ["WorkerView", "WorkersApp", "merge_expositions"]

log = logging.getLogger("a2a_mqtt.server")

_SCRAPE_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True)
class WorkerView:
    """What the supervisor knows of one worker when it is scraped."""

    index: int
    alive: bool
    ready: bool
    restarts: int
    url: str
    """``http://127.0.0.1:PORT`` of the worker's own endpoint ("" when it has none yet)."""


def merge_expositions(texts: Mapping[int, str], workers: Sequence[WorkerView]) -> bytes:
    """One Prometheus exposition from each worker's (``texts``: index -> text), every
    sample labelled ``worker``, and the supervisor's families of ``workers``."""
    merged: dict[str, Metric] = {}
    for index, text in sorted(texts.items()):
        for family in text_string_to_metric_families(text):
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Metric(family.name, family.documentation,
                                                    family.type, family.unit)
            for sample in family.samples:
                into.add_sample(sample.name, {**sample.labels, "worker": str(index)},
                                sample.value, sample.timestamp)
    up = GaugeMetricFamily("a2a_mqtt_worker_up",
                           "1 while the worker process runs and says ready",
                           labels=["worker"])
    restarts = CounterMetricFamily("a2a_mqtt_worker_restarts",
                                   "Times the supervisor restarted the worker process",
                                   labels=["worker"])
    for view in workers:
        up.add_metric([str(view.index)], 1.0 if view.alive and view.ready else 0.0)
        restarts.add_metric([str(view.index)], float(view.restarts))
    families = [*merged.values(), up, restarts]

    class _Families(Collector):
        def collect(self) -> Iterable[Metric]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families())
    return generate_latest(registry)


class WorkersApp:
    """The supervisor's ASGI app; ``views()`` reads the workers' state at each request,
    ``presence_ready()`` whether the cards' sessions are connected."""

    def __init__(self, *, views: Callable[[], Sequence[WorkerView]],
                 presence_ready: Callable[[], bool], metrics: bool) -> None:
        self._views = views
        self._presence_ready = presence_ready
        self._metrics = metrics
        self._http = httpx.AsyncClient(timeout=_SCRAPE_TIMEOUT)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch(self, url: str) -> tuple[int, str]:
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            log.warning("scraping worker %s failed: %s", url, exc)
            return 0, ""
        return response.status_code, response.text

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await answer(send, 404, b'{"error": "not found"}', "application/json")
            return
        path = scope["path"]
        views = list(self._views())
        if path == "/healthz":
            await answer(send, 200, b'{"status": "ok"}', "application/json")
        elif path == "/metrics":
            if not self._metrics:
                await answer(send, 404, b"metrics are off\n", "text/plain")
                return
            live = [v for v in views if v.alive and v.url]
            got = await asyncio.gather(*(self._fetch(v.url + "/metrics") for v in live))
            texts = {v.index: text for v, (status, text) in zip(live, got, strict=True)
                     if status == 200}
            await answer(send, 200, merge_expositions(texts, views), CONTENT_TYPE_LATEST)
        elif path == "/readyz":
            checks = {"cards": self._presence_ready()}
            with_url = [v for v in views if v.alive and v.url]
            got = await asyncio.gather(*(self._fetch(v.url + "/readyz") for v in with_url))
            said = {v.index: status == 200 for v, (status, _) in zip(with_url, got, strict=True)}
            for view in views:
                checks[f"worker {view.index}"] = view.alive and view.ready and said.get(
                    view.index, not view.url)
            ready = all(checks.values())
            body = json.dumps({"ready": ready, "checks": checks}).encode()
            await answer(send, 200 if ready else 503, body, "application/json")
        else:
            await answer(send, 404, b'{"error": "not found"}', "application/json")
