"""Registry benchmark: index build time, memory per card, query latency (docs/performance.md).

Usage::

    python bench/registry_bench.py                    # 10,000 and 100,000 cards, 3 runs each
    python bench/registry_bench.py --sizes 10000 --runs 1   # quick

For each size: one Mosquitto (``EmbeddedBroker``, generated config: unlimited
queue) gets N retained cards (``registry_cards.fleet``) from a QoS 1 publisher
with a full in-flight window; a plain subscriber then counts the retained
cards (replay + barrier) so timing starts only once all N are on the broker.
Each run starts a fresh *child process* (this script with ``--child``) that
imports everything, then times ``RegistryServer.start()`` -- connect, retained
replay of N cards, index complete -- and reports its RSS growth. At the
largest size the child also times in-process queries (``index.query``), and
this process times the same queries over HTTP (httpx, keep-alive, 20 cards
per page). Every figure is the median over runs; latencies are p50/p99 over
all samples of a query kind. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from a2a_mqtt.binding.topics import discovery_filters
from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport, PublishProperties, Subscription
from a2a_mqtt.transport.base import BrokerURL
from harness.cpu import proc_cpu_seconds
from harness.memory import rss_kib
from harness.stats import percentile
from registry_cards import fleet

RESULTS = Path(__file__).resolve().parent / "results"
QUERIES: dict[str, str] = {
    "org+tag": "org=org03&tag=tag017",
    "tag+online": "tag=tag005&status=online",
    "skill": "skill=skill-042",
    "org+unit": "org=org07&unit=unit11",
    "text word": "q=conveyor",
    "text 2 words": "q=weld+sens",
    "media type": "input=image/png&org=org01",
    "first page": "",
    "cursor page": "org=org05&cursor={cursor}",
}
SAMPLES = 300


def pct(values: list[float], q: float) -> float:
    return percentile(sorted(values), q)


def rss_bytes() -> int:
    return (rss_kib() or 0) * 1024


# -- broker side (parent) ---------------------------------------------------------------

async def publish_fleet(url: str, n: int) -> float:
    options = ConnectOptions(url=BrokerURL.parse(url),
                             client_id=f"bench-pub-{uuid.uuid4().hex[:8]}",
                             max_inflight=1000, ack_timeout=120)
    started = time.perf_counter()
    async with Mqtt5Transport(options) as pub:
        pending: list[Any] = []
        for card in fleet(n):
            props = PublishProperties(user_properties=(("a2a-status", card.status),
                                                       ("a2a-status-source", "agent")))
            pending.append(pub.publish(card.topic, card.payload, qos=1, retain=True,
                                       properties=props))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    return time.perf_counter() - started


async def count_retained(url: str, timeout: float) -> int:
    """Retained cards on the broker: subscribe, then a barrier to ourselves."""
    me = f"bench-count-{uuid.uuid4().hex[:8]}"
    count = 0
    done = asyncio.get_running_loop().create_future()

    def on_card(msg: Any) -> None:
        nonlocal count
        count += bool(msg.payload)

    def on_sync(msg: Any) -> None:
        if not done.done():
            done.set_result(None)

    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url), client_id=me))
    for topic_filter in discovery_filters():
        await transport.subscribe(Subscription(topic_filter, qos=1), on_card)
    await transport.subscribe(Subscription(f"bench/sync/{me}", qos=1), on_sync)
    async with transport:
        await transport.publish(f"bench/sync/{me}", b"", qos=1)
        async with asyncio.timeout(timeout):
            await done
    return count


async def http_latencies(url: str, cursor: str) -> dict[str, list[float]]:
    import httpx

    out: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for name, query in QUERIES.items():
            path = f"/agents?limit=20&{query.format(cursor=cursor)}".rstrip("&")
            await http.get(path)  # warm
            samples = []
            for _ in range(SAMPLES // 3):
                t = time.perf_counter()
                response = await http.get(path)
                samples.append(time.perf_counter() - t)
                assert response.status_code == 200, response.text
            out[name] = samples
    return out


# -- registry side (child) ---------------------------------------------------------------

async def child(url: str, n: int, query: bool, hold: bool) -> None:
    from a2a_mqtt.registry import Query, RegistryConfig, RegistryServer

    gc.collect()
    before = rss_bytes()
    server = RegistryServer(RegistryConfig(connection=ConnectionSettings(url=url), http_port=0,
                                           agent_ref=None,
                                           sync_timeout=600))
    started, cpu = time.perf_counter(), time.process_time()
    await server.start()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await asyncio.wait_for(server.service.words_linked.wait(), 600)
    gc.collect()
    index = server.service.index
    report: dict[str, Any] = {"seconds": seconds, "cpu_seconds": cpu,
                              "entries": len(index.entries),
                              "words_seconds": server.service.words_seconds,
                              "rejected": len(index.rejected), "rss_growth": rss_bytes() - before,
                              "url": server.url}
    if query:
        first = index.query(Query.from_params([("org", "org05"), ("limit", "20")]))
        cursor = first.next or ""
        if not cursor:  # the "cursor page" query needs a second page of org05
            raise SystemExit(f"{n} cards give org05 one page only: use --sizes of 500 or more")
        report["cursor"] = cursor
        latencies: dict[str, list[float]] = {}
        for name, text in QUERIES.items():
            params = [tuple(p.split("=", 1)) for p in text.format(cursor=cursor).split("&") if p]
            params = [(k, v.replace("+", " ")) for k, v in params] + [("limit", "20")]
            samples = []
            for _ in range(SAMPLES):
                t = time.perf_counter()
                page = index.query(Query.from_params(params))
                samples.append(time.perf_counter() - t)
            latencies[name] = samples
            report.setdefault("totals", {})[name] = page.total
        report["latencies"] = latencies
    print(json.dumps(report), flush=True)
    if hold:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await server.stop()


async def run_child(url: str, n: int, *, query: bool) -> tuple[dict[str, Any], Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", url, "--n", str(n), *(["--query"] if query else []),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 900)
    return json.loads(line), proc


async def finish_child(proc: Any) -> None:
    proc.stdin.write(b"\n")
    await proc.stdin.drain()
    await asyncio.wait_for(proc.wait(), 60)


async def bench_size(n: int, runs: int, *, query: bool) -> dict[str, Any]:
    async with EmbeddedBroker(config=BrokerConfig()) as broker:
        publish_s = await publish_fleet(broker.url, n)
        retained = await count_retained(broker.url, 600)
        assert retained == n, f"only {retained} of {n} cards are retained"
        print(f"{n} cards: published in {publish_s:.1f} s, all {retained} retained", flush=True)
        reports = []
        http: dict[str, list[float]] = {}
        broker_pid = broker.process.pid
        for run in range(runs):
            broker_cpu = proc_cpu_seconds(broker_pid) if broker_pid else None
            report, proc = await run_child(broker.url, n, query=query and run == 0)
            after = proc_cpu_seconds(broker_pid) if broker_pid else None
            report["broker_cpu_seconds"] = (after - broker_cpu if after is not None
                                            and broker_cpu is not None else float("nan"))
            report["load_average"] = os.getloadavg()[0]
            if query and run == 0:
                http = await http_latencies(report["url"], report["cursor"])
            await finish_child(proc)
            assert report["entries"] == n, report
            assert report["rejected"] == 0, report
            print(f"  run {run + 1}: indexed in {report['seconds']:.2f} s "
                  f"(registry CPU {report['cpu_seconds']:.2f} s, broker CPU "
                  f"{report['broker_cpu_seconds']:.2f} s; words linked "
                  f"{report['words_seconds']:.2f} s later), "
                  f"{report['rss_growth'] / n:.0f} B/card; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
            reports.append(report)
    out: dict[str, Any] = {
        "cards": n, "publish_seconds": publish_s,
        "index_seconds": [r["seconds"] for r in reports],
        "index_seconds_median": statistics.median(r["seconds"] for r in reports),
        "registry_cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in reports),
        "broker_cpu_seconds_median": statistics.median(r["broker_cpu_seconds"]
                                                       for r in reports),
        "load_averages": [r["load_average"] for r in reports],
        "words_seconds_median": statistics.median(r["words_seconds"] for r in reports),
        "bytes_per_card_median": statistics.median(r["rss_growth"] / n for r in reports),
        "cards_per_second_median": n / statistics.median(r["seconds"] for r in reports)}
    if query:
        inproc = reports[0]["latencies"]
        out["query_ms"] = {name: {
            "in_process_p50": pct(inproc[name], 0.5) * 1e3,
            "in_process_p99": pct(inproc[name], 0.99) * 1e3,
            "http_p50": pct(http[name], 0.5) * 1e3, "http_p99": pct(http[name], 0.99) * 1e3,
            "matches": reports[0]["totals"][name]} for name in QUERIES}
        every = [v for values in inproc.values() for v in values]
        every_http = [v for values in http.values() for v in values]
        out["query_ms_all"] = {"in_process_p50": pct(every, 0.5) * 1e3,
                               "in_process_p99": pct(every, 0.99) * 1e3,
                               "http_p50": pct(every_http, 0.5) * 1e3,
                               "http_p99": pct(every_http, 0.99) * 1e3}
    return out


def table(results: list[dict[str, Any]]) -> None:
    print("\n| cards | start to ready | cards/s | registry CPU | broker CPU "
          "| then words linked | RSS per card |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['cards']:,} | {r['index_seconds_median']:.2f} s | "
              f"{r['cards_per_second_median']:,.0f} | {r['registry_cpu_seconds_median']:.2f} s | "
              f"{r['broker_cpu_seconds_median']:.2f} s | {r['words_seconds_median']:.2f} s | "
              f"{r['bytes_per_card_median']:,.0f} B |")
    for r in results:
        if "query_ms" not in r:
            continue
        print(f"\nQueries at {r['cards']:,} cards (ms; 20 per page):\n")
        print("| query | matches | in-process p50 | p99 | HTTP p50 | p99 |")
        print("|---|---|---|---|---|---|")
        for name, q in [*r["query_ms"].items(), ("all", {**r["query_ms_all"], "matches": ""})]:
            print(f"| {name} | {q['matches']} | {q['in_process_p50']:.3f} | "
                  f"{q['in_process_p99']:.3f} | {q['http_p50']:.2f} | {q['http_p99']:.2f} |")


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    results = [await bench_size(n, args.runs, query=n == max(sizes)) for n in sizes]
    table(results)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"registry-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": sys.version},
                                "results": results}, indent=2))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", metavar="BROKER_URL", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--query", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        asyncio.run(child(ns.child, ns.n, ns.query, hold=True))
    else:
        asyncio.run(main(ns))
