"""Registry fuzz at scale: N cards of mixed validity with churn against a real broker.

One Mosquitto (``EmbeddedBroker``) and one registry (in process, real uvicorn
and HTTP). A publisher sends ``--cards`` publishes over ``--topics`` discovery
topics (``tests/unit/registry/churn.py``): valid cards, 15 families of invalid
ones (lone surrogates, numbers that overflow a double, NaN, truncated, not
UTF-8, not an object, random bytes, schema and routing violations, 100,000-deep
nesting, oversized, bad topics), replacements, retained clears, and 20 %
non-retained noise (which must change nothing). Meanwhile HTTP readers query
every route and an SSE client follows ``/events``.

Then it compares, exactly:

* what a fresh subscriber reads as retained from the broker, with the model;
* every registry answer (``/agents`` pages, ``/cards/{ref}`` bytes, statuses,
  ``/rejected`` with reasons) with that retained state -- for the registry that
  watched the churn and for a second one started afterwards (replay only);

and prints the figures, with the count of 5xx answers (must be 0). Exits 1 on
any mismatch. The machine is shared and noisy: timings are indicative.

    .venv/bin/python bench/fuzz_registry.py --cards 10000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from harness.procs import private_broker
from harness.stats import percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.behaviour.registry.views import RegistryView, registry_view, retained_snapshot
from tests.unit.registry.churn import (
    INVALID,
    MAX_CARD_BYTES,
    Retained,
    Step,
    churn,
    expected_index,
    topic_pool,
)

from a2a_mqtt.binding import properties as P
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.registry import RegistryConfig, RegistryServer
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, PublishProperties
from a2a_mqtt.transport.base import BrokerURL


class Load:
    """HTTP readers during the churn: every route, counted by status; latencies kept."""

    def __init__(self, base_url: str, refs: list[str], seed: int) -> None:
        self.base_url = base_url
        self.refs = refs
        self.rnd = random.Random(seed)
        self.statuses: Counter[int] = Counter()
        self.latency: list[float] = []
        self.sse_events = 0
        self.sse_kinds: Counter[str] = Counter()
        self.stop = asyncio.Event()

    def _path(self) -> tuple[str, dict[str, Any]]:
        rnd = self.rnd
        ref = rnd.choice(self.refs)
        return rnd.choice([
            ("/agents", {"limit": rnd.choice([1, 50, 500]), "card": rnd.choice(["true", "false"])}),
            ("/agents", {"org": "org1", "status": rnd.choice(["online", "offline", "unknown"])}),
            ("/agents", {"q": rnd.choice(["robot", "vision agent", "prüfer"]), "kind": "pool"}),
            ("/agents", {"tag": rnd.choice(["weld", "überprüfung", "x"]), "input": "text/*"}),
            ("/agents", {"limit": "lots"}), ("/agents", {"cursor": "c1.%%%"}),
            (f"/agents/{ref}", {}), (f"/cards/{ref}", {}), ("/agents/bad%20ref/x", {}),
            ("/rejected", {"org": "org2", "limit": 20}), ("/stats", {}), ("/ready", {}),
        ])

    async def reader(self, http: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            path, params = self._path()
            started = time.perf_counter()
            response = await http.get(path, params=params)
            self.latency.append(time.perf_counter() - started)
            self.statuses[response.status_code] += 1
            if response.status_code >= 500:
                print(f"5xx: {path} {params} -> {response.text[:200]}", flush=True)

    async def follower(self, http: httpx.AsyncClient) -> None:
        last: str | None = None
        while not self.stop.is_set():
            headers = {"Last-Event-ID": last} if last else {}
            async with http.stream("GET", "/events", headers=headers) as response:
                self.statuses[response.status_code] += 1
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        last = line[4:]
                        self.sse_events += 1
                    elif line.startswith("event: "):
                        self.sse_kinds[line[7:]] += 1
                        if line[7:] in ("overflow", "closing"):
                            break
                    if self.stop.is_set():
                        break

    async def run(self, readers: int) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:
            await asyncio.gather(self.follower(http),
                                 *(self.reader(http) for _ in range(readers)))


async def send(transport: Mqtt5Transport, step: Step) -> None:
    props: list[tuple[str, str]] = []
    if step.status is not None:
        props.append((P.STATUS, step.status))
    if step.source is not None:
        props.append((P.STATUS_SOURCE, step.source))
    await transport.publish(step.topic, step.payload, qos=1, retain=step.retain,
                            properties=PublishProperties(user_properties=tuple(props)))


def compare(name: str, view: RegistryView, entries: dict[str, Any], rejected: set[str]) -> bool:
    missing = set(entries) - set(view.entries)
    extra = set(view.entries) - set(entries)
    different = [t for t in set(entries) & set(view.entries) if entries[t] != view.entries[t]]
    reasons = sum(1 for t in rejected if view.rejected.get(t))
    exact = not missing and not extra and not different and set(view.rejected) == rejected
    print(f"{name}: index == retained state: {'EXACT' if exact else 'MISMATCH'} "
          f"(entries {len(view.entries)}/{len(entries)}, missing {len(missing)}, extra "
          f"{len(extra)}, different {len(different)}; rejected {len(view.rejected)}/"
          f"{len(rejected)}, listed with a reason {reasons}/{len(rejected)})")
    fives = sum(n for s, n in view.statuses.items() if s >= 500)
    print(f"{name}: comparison requests {sum(view.statuses.values())}, 5xx {fives}")
    return exact and reasons == len(rejected) and fives == 0


async def main(cards: int, topics: int, readers: int, seed: int) -> int:
    refs = topic_pool(topics)
    steps = list(churn(refs, cards, seed=seed))
    families = Counter(s.family for s in steps)
    noise = sum(1 for s in steps if not s.retain)
    print(f"fuzz_registry: {cards} publishes over {topics} topics (seed {seed}); "
          f"{sum(families[f] for f in INVALID)} invalid, {families['clear']} clears, "
          f"{noise} non-retained; {readers} HTTP readers + 1 SSE follower; shared noisy "
          "machine: timings are indicative", flush=True)
    model = Retained()
    async with private_broker() as broker:
        config = RegistryConfig(connection=ConnectionSettings(url=broker.url), http_port=0,
                                agent_ref=None,
                                max_card_bytes=MAX_CARD_BYTES, feed_queue_size=100_000)
        async with RegistryServer(config) as registry:
            load = Load(registry.url, [str(r) for r in refs], seed)
            loader = asyncio.create_task(load.run(readers), name="fuzz-registry.load")
            options = ConnectOptions(url=BrokerURL.parse(broker.url), client_id="fuzz-pub")
            started = time.perf_counter()
            async with Mqtt5Transport(options) as publisher:
                for step in steps:
                    model.apply(step)
                    await send(publisher, step)
            publish_s = time.perf_counter() - started
            assert registry.service.ingest is not None
            await registry.service.ingest.barrier(120)
            ingest_s = time.perf_counter() - started
            load.stop.set()
            await loader
            stats = registry.service.stats()
            print(f"churn: published in {publish_s:.1f} s ({cards / publish_s:.0f}/s), "
                  f"indexed {ingest_s:.1f} s after the first; registry ignored "
                  f"{stats['ignored']} non-retained (expected {noise}), ingest errors "
                  f"{stats['errors']}", flush=True)
            lat = sorted(load.latency)
            fives = sum(n for s, n in load.statuses.items() if s >= 500)
            print(f"HTTP during churn: {sum(load.statuses.values())} requests, statuses "
                  f"{dict(sorted(load.statuses.items()))}, 5xx {fives}; median "
                  f"{percentile(lat, 0.5) * 1e3:.1f} ms, p99 "
                  f"{percentile(lat, 0.99) * 1e3:.1f} ms" if lat else "no HTTP requests")
            print(f"SSE follower: {load.sse_events} events, kinds "
                  f"{dict(sorted(load.sse_kinds.items()))}", flush=True)
            snapshot = await retained_snapshot(broker.url)
            broker_ok = snapshot == {t: (s.payload, s.status, s.source)
                                     for t, s in model.state.items()}
            print(f"broker retained state == model: {broker_ok} ({len(snapshot)} topics)")
            entries, rejected = expected_index(model)
            started = time.perf_counter()
            live_ok = compare("live registry", await registry_view(registry.url), entries,
                              rejected)
            view_s = time.perf_counter() - started
            started = time.perf_counter()
            second = RegistryConfig(connection=ConnectionSettings(url=broker.url), http_port=0,
                                    agent_ref=None,
                                    max_card_bytes=MAX_CARD_BYTES)
            async with RegistryServer(second) as fresh:
                replay_s = time.perf_counter() - started
                fresh_ok = compare("restarted registry", await registry_view(fresh.url),
                                   entries, rejected)
            print(f"timing: full HTTP read-back of the live index {view_s:.2f} s; a new "
                  f"registry indexed the retained state in {replay_s:.2f} s "
                  f"(ratio live read-back / new replay {view_s / replay_s:.2f})")
    ok = broker_ok and live_ok and fresh_ok and fives == 0 and stats["errors"] == 0 \
        and stats["ignored"] == noise
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=10_000, help="card publishes (default 10000)")
    parser.add_argument("--topics", type=int, default=None,
                        help="discovery topics they churn over (default cards/4)")
    parser.add_argument("--readers", type=int, default=4, help="concurrent HTTP readers")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.cards, args.topics or max(10, args.cards // 4),
                              args.readers, args.seed)))
