"""Raw MQTT 5 QoS 1 request/reply: our transport against two ways to use paho.

Usage::

    python bench/mqtt_clients.py            # about a minute; prints a table
    python bench/mqtt_clients.py --quick    # a few seconds, for smoke tests

Each variant runs a requester and a responder (same library, separate
connections) against one embedded Mosquitto on loopback. A request is a QoS 1
PUBLISH of a ~250 B JSON-RPC-like payload carrying Response Topic and
Correlation Data; the responder echoes it with QoS 1 to the Response Topic with
the same Correlation Data. The requester counts a request done when both its
PUBACK and the matching reply arrived.

Variants:

* ``ours``: :func:`a2a_mqtt.transport.create_transport`, the transport the agent
  uses (an asyncio Protocol over the ``mqtt5`` codec, no thread);
* ``paho-thread``: paho with its own network thread (``loop_start``), bridged to
  asyncio by ``loop.call_soon_threadsafe`` (the minimal adapter below);
* ``aiomqtt``: aiomqtt 2.5.1 (also paho under asyncio socket callbacks).

Scenarios: sequential (one request at a time, default n=2000) and concurrent
(100 in flight, n=10000). Each variant x scenario runs ``--runs`` times
(default 3), interleaved; the table shows the median of each metric, plus the
ratio against ``ours`` (for throughput >1 means faster than ours, for latency
>1 means slower than ours). Everything is bounded by ``--deadline`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import platform
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker
from a2a_mqtt.transport import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    PublishProperties,
    Subscription,
    create_transport,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.cli import bench_parser, finish_args
from harness.stats import percentile

PAYLOAD = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": "00000000-0000-0000-0000-000000000000",
        "method": "SendMessage",
        "params": {
            "message": {
                "messageId": "11111111-1111-1111-1111-111111111111",
                "role": "ROLE_USER",
                "parts": [{"text": "benchmark payload: hello over MQTT 5 request/reply " * 2}],
            }
        },
    }
).encode()

Requester = Callable[[bytes], Awaitable[None]]


class Variant(Protocol):
    """A requester/responder pair built on one client library."""

    name: str

    async def start(self, url: str, run_id: str) -> None: ...

    async def request(self, payload: bytes) -> None: ...

    async def stop(self) -> None: ...


# -- ours -------------------------------------------------------------------------


class Ours:
    name = "ours"

    async def start(self, url: str, run_id: str) -> None:
        self._req_topic = f"bench/{run_id}/req"
        self._reply_topic = f"bench/{run_id}/reply"
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._counter = itertools.count()
        loop = asyncio.get_running_loop()
        broker = BrokerURL.parse(url)
        self._responder = create_transport(ConnectOptions(url=broker, client_id=f"{run_id}-resp"))
        self._requester = create_transport(ConnectOptions(url=broker, client_id=f"{run_id}-req"))
        self._tasks: set[asyncio.Task[None]] = set()

        def on_request(msg: IncomingMessage) -> None:
            props = PublishProperties(correlation_data=msg.properties.correlation_data)
            assert msg.properties.response_topic is not None
            task = loop.create_task(
                self._responder.publish(
                    msg.properties.response_topic, msg.payload, properties=props
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        def on_reply(msg: IncomingMessage) -> None:
            fut = self._pending.pop(msg.properties.correlation_data or b"", None)
            if fut is not None and not fut.done():
                fut.set_result(None)

        await self._responder.connect()
        await self._responder.subscribe(Subscription(self._req_topic, qos=1), on_request)
        await self._requester.connect()
        await self._requester.subscribe(Subscription(self._reply_topic, qos=1), on_reply)

    async def request(self, payload: bytes) -> None:
        corr = next(self._counter).to_bytes(8, "big")
        fut = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        props = PublishProperties(response_topic=self._reply_topic, correlation_data=corr)
        await self._requester.publish(self._req_topic, payload, qos=1, properties=props)
        await fut

    async def stop(self) -> None:
        await self._requester.disconnect()
        await self._responder.disconnect()


# -- paho with its network thread, bridged with call_soon_threadsafe --------------


class _ThreadedPaho:
    """Minimal asyncio adapter over paho's own network thread (bench only)."""

    def __init__(self, client_id: str, on_message: Callable[[Any], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._early: set[int] = set()  # PUBACKs that beat the future's registration
        self._connected = asyncio.Event()
        self._suback = asyncio.Event()
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_subscribe = lambda *_: self._loop.call_soon_threadsafe(self._suback.set)
        client.on_message = lambda _c, _u, msg: self._loop.call_soon_threadsafe(on_message, msg)
        self.client = client

    def _nodelay(self) -> None:
        sock = self.client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._nodelay()
        self._loop.call_soon_threadsafe(self._connected.set)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            fut = self._acks.pop(mid, None)
            if fut is None:
                self._early.add(mid)
                return
        self._loop.call_soon_threadsafe(_resolve, fut)

    async def connect(self, host: str, port: int) -> None:
        self.client.connect(host, port, keepalive=30)  # blocking connect, as paho users do
        self._nodelay()
        self.client.loop_start()
        await asyncio.wait_for(self._connected.wait(), 10)

    async def subscribe(self, topic: str) -> None:
        self._suback.clear()
        self.client.subscribe(topic, options=SubscribeOptions(qos=1))
        await asyncio.wait_for(self._suback.wait(), 10)

    def publish_nowait(self, topic: str, payload: bytes, props: Any) -> int:
        info = self.client.publish(topic, payload, qos=1, properties=props)
        return int(info.mid)

    async def publish(self, topic: str, payload: bytes, props: Any) -> None:
        fut = self._loop.create_future()
        # Not under our lock: paho calls on_publish holding its own, so that would deadlock.
        mid = self.publish_nowait(topic, payload, props)
        with self._lock:
            if mid in self._early:  # the PUBACK was faster than this line
                self._early.discard(mid)
                return
            self._acks[mid] = fut
        await fut

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class PahoThread:
    name = "paho-thread"

    async def start(self, url: str, run_id: str) -> None:
        self._req_topic = f"bench/{run_id}/req"
        self._reply_topic = f"bench/{run_id}/reply"
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._counter = itertools.count()
        broker = BrokerURL.parse(url)

        def on_request(msg: Any) -> None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = msg.properties.CorrelationData
            self._responder.publish_nowait(msg.properties.ResponseTopic, msg.payload, props)

        def on_reply(msg: Any) -> None:
            fut = self._pending.pop(bytes(msg.properties.CorrelationData), None)
            if fut is not None and not fut.done():
                fut.set_result(None)

        self._responder = _ThreadedPaho(f"{run_id}-resp", on_request)
        self._requester = _ThreadedPaho(f"{run_id}-req", on_reply)
        for client, topic in (
            (self._responder, self._req_topic),
            (self._requester, self._reply_topic),
        ):
            await client.connect(broker.host, broker.port)
            await client.subscribe(topic)

    async def request(self, payload: bytes) -> None:
        corr = next(self._counter).to_bytes(8, "big")
        fut = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self._reply_topic
        props.CorrelationData = corr
        await self._requester.publish(self._req_topic, payload, props)
        await fut

    async def stop(self) -> None:
        self._requester.stop()
        self._responder.stop()


# -- aiomqtt ----------------------------------------------------------------------


class AioMqtt:
    name = "aiomqtt"

    async def start(self, url: str, run_id: str) -> None:
        self._req_topic = f"bench/{run_id}/req"
        self._reply_topic = f"bench/{run_id}/reply"
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._counter = itertools.count()
        broker = BrokerURL.parse(url)
        quiet = logging.getLogger("bench.aiomqtt")
        quiet.setLevel(logging.ERROR)  # silences "There are N pending publish calls."
        common: dict[str, Any] = {
            "protocol": aiomqtt.ProtocolVersion.V5,
            "socket_options": ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
            "max_inflight_messages": 1000,
            "logger": quiet,
        }
        self._responder = aiomqtt.Client(
            broker.host, broker.port, identifier=f"{run_id}-resp", **common
        )
        self._requester = aiomqtt.Client(
            broker.host, broker.port, identifier=f"{run_id}-req", **common
        )
        await self._responder.__aenter__()
        await self._requester.__aenter__()
        await self._responder.subscribe(self._req_topic, qos=1)
        await self._requester.subscribe(self._reply_topic, qos=1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._serve = asyncio.create_task(self._respond(), name="bench.aiomqtt.respond")
        self._read = asyncio.create_task(self._replies(), name="bench.aiomqtt.replies")

    async def _respond(self) -> None:
        async for msg in self._responder.messages:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = msg.properties.CorrelationData
            task = asyncio.create_task(
                self._responder.publish(
                    msg.properties.ResponseTopic, msg.payload, qos=1, properties=props
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _replies(self) -> None:
        async for msg in self._requester.messages:
            fut = self._pending.pop(bytes(msg.properties.CorrelationData), None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def request(self, payload: bytes) -> None:
        corr = next(self._counter).to_bytes(8, "big")
        fut = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self._reply_topic
        props.CorrelationData = corr
        await self._requester.publish(self._req_topic, payload, qos=1, properties=props)
        await fut

    async def stop(self) -> None:
        for task in (self._serve, self._read):
            task.cancel()
        await asyncio.gather(self._serve, self._read, return_exceptions=True)
        await self._requester.__aexit__(None, None, None)
        await self._responder.__aexit__(None, None, None)


VARIANTS: dict[str, Callable[[], Variant]] = {
    "ours": Ours,
    "paho-thread": PahoThread,
    "aiomqtt": AioMqtt,
}


# -- measurement ------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    scenario: str
    n: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float = 0.0  # this process's CPU (all threads) per request; the broker excluded


async def measure(variant: Variant, scenario: str, n: int, inflight: int) -> Result:
    latencies: list[float] = []
    remaining = itertools.count()

    async def worker() -> None:
        while next(remaining) < n:
            t0 = time.perf_counter()
            await variant.request(PAYLOAD)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    cpu_start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    latencies.sort()
    return Result(
        variant=variant.name,
        scenario=scenario,
        n=n,
        seconds=seconds,
        rps=n / seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        cpu_ms=cpu / n * 1000,
    )


async def one_run(name: str, url: str, args: argparse.Namespace) -> list[Result]:
    variant = VARIANTS[name]()
    await variant.start(url, f"{name}-{uuid.uuid4().hex[:8]}")
    try:
        for _ in range(args.warmup):
            await variant.request(PAYLOAD)
        seq = await measure(variant, "sequential", args.seq_n, 1)
        conc = await measure(variant, f"{args.inflight} in flight", args.conc_n, args.inflight)
    finally:
        await variant.stop()
    return [seq, conc]


def median_results(results: list[Result]) -> list[Result]:
    grouped: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        grouped.setdefault((r.variant, r.scenario), []).append(r)
    return [
        Result(
            variant=v,
            scenario=s,
            n=rs[0].n,
            seconds=statistics.median(r.seconds for r in rs),
            rps=statistics.median(r.rps for r in rs),
            p50_ms=statistics.median(r.p50_ms for r in rs),
            p99_ms=statistics.median(r.p99_ms for r in rs),
            cpu_ms=statistics.median(r.cpu_ms for r in rs),
        )
        for (v, s), rs in grouped.items()
    ]


def table(medians: list[Result], runs: int) -> str:
    ours = {r.scenario: r for r in medians if r.variant == "ours"}
    lines = [
        f"| scenario | variant | n | req/s | p50 ms | p99 ms | CPU ms/req | req/s vs ours "
        f"| p50 vs ours |  (median of {runs})",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in dict.fromkeys(r.scenario for r in medians):
        for r in (m for m in medians if m.scenario == scenario):
            base = ours.get(scenario)
            rps_ratio = f"{r.rps / base.rps:.2f}x" if base else "-"
            p50_ratio = f"{r.p50_ms / base.p50_ms:.2f}x" if base else "-"
            lines.append(
                f"| {scenario} | {r.variant} | {r.n} | {r.rps:,.0f} | {r.p50_ms:.3f} | "
                f"{r.p99_ms:.3f} | {r.cpu_ms:.3f} | {rps_ratio} | {p50_ratio} |"
            )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    names = args.variants
    threads_before = threading.active_count()
    config = BrokerConfig(max_inflight_messages=1000, persistence=False)
    all_results: list[Result] = []
    async with asyncio.timeout(args.deadline), EmbeddedBroker(config=config) as broker:
        print(f"broker {broker.url} (Mosquitto, set_tcp_nodelay, max_inflight_messages 1000)")
        for run in range(1, args.runs + 1):
            for name in names:
                results = await one_run(name, broker.url, args)
                all_results += results
                summary = ", ".join(
                    f"{r.scenario}: {r.rps:,.0f} req/s p50 {r.p50_ms:.2f} ms "
                    f"cpu {r.cpu_ms:.3f} ms/req"
                    for r in results
                )
                print(f"run {run}/{args.runs} {name:<12} {summary}", flush=True)
    medians = median_results(all_results)
    print()
    print(
        f"Python {platform.python_version()}, paho-mqtt {paho.mqtt.__version__}, "
        f"aiomqtt {aiomqtt.__version__ if hasattr(aiomqtt, '__version__') else '2.x'}, "
        f"{os.cpu_count()} CPUs, payload {len(PAYLOAD)} B, QoS 1 both ways"
    )
    print(table(medians, args.runs))
    print(f"\nthreads alive before/after: {threads_before}/{threading.active_count()}")
    if args.json:
        write_json(Path(args.json), all_results)
    return 0


def write_json(path: Path, results: list[Result]) -> None:
    """Raw per-run results (after the event loop work is done)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in results], indent=2))
    print(f"raw results written to {path}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = bench_parser(
        __doc__, quick="1 run, n=200/1000", json_help="also write raw results here"
    )
    parser.add_argument("--seq-n", type=int, default=2000)
    parser.add_argument("--conc-n", type=int, default=10000)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--deadline", type=float, default=900.0, help="hard limit, seconds")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    return finish_args(parser, argv, runs=1, seq_n=200, conc_n=1000, warmup=20)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
