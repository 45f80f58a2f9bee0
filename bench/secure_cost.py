"""What security costs, side by side in one run: plain MQTT against TLS with a login
and broker ACLs (``SecureBroker``: dynamic security, Client ID binding).

Usage::

    python bench/secure_cost.py            # 3 rounds, 400 requests per cell (~1-2 min)
    python bench/secure_cost.py --quick    # 1 round, 100 requests (smoke test)

Each round runs every variant in turn (order rotated per round), each on its own
broker, with a real ``AgentServer`` (``BenchExecutor``) and a real requester
(``A2AMqttClient(...).transport_for(ref).send_message``, unary, QoS 1), at 1 and 100
requests in flight after a warm-up. Agent and client share this process (one event
loop): the ratios are what matter, not the absolute figures. Medians over rounds.

Variants are listed in ``VARIANTS``; bearer-token verification and ``ubsp-v1`` add
their own rows there (each a function returning broker URL and agent/requester
settings inside an ``AsyncExitStack``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

# a2a_mqtt's default for a2a-sdk's OpenTelemetry spans (off), whatever imports first.
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

from _common import BENCH_TEXT, BenchExecutor, bench_card, median, summarize
from a2a_mqtt.access import Identity
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import EmbeddedBroker, SecureBroker, SecureBrokerConfig
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.server import AgentConfig, AgentServer

AGENT = Identity.parse("bench/secure/echo", "agent")
CALLER = Identity.parse("bench/secure/caller", "requester")
Settings = tuple[str, dict[str, Any], dict[str, Any]]


async def plain(stack: AsyncExitStack) -> Settings:
    broker = await stack.enter_async_context(EmbeddedBroker())
    return broker.url, {}, {}


async def tls_acl(stack: AsyncExitStack) -> Settings:
    broker = await stack.enter_async_context(SecureBroker(SecureBrokerConfig(
        identities=(AGENT, CALLER))))
    agent, caller = broker.credentials(AGENT), broker.credentials(CALLER)
    return broker.url, {
        "username": agent.username, "password": agent.password, "tls": agent.tls(),
    }, {
        "org": CALLER.ref.org, "unit": CALLER.ref.unit, "requester_id": CALLER.ref.name,
        "username": caller.username, "password": caller.password, "tls": caller.tls(),
    }


VARIANTS: dict[str, Callable[[AsyncExitStack], Awaitable[Settings]]] = {
    "plain": plain,
    "tls+acl": tls_acl,
}


def _request() -> SendMessageRequest:
    return SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=BENCH_TEXT)]))


async def _measure(send: Callable[[], Awaitable[Any]], n: int,
                   in_flight: int) -> dict[str, float]:
    latencies: list[float] = []
    todo = iter(range(n))

    async def worker() -> None:
        for _ in todo:
            started = time.perf_counter()
            await send()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with asyncio.timeout(300):
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    stats = summarize(latencies, time.perf_counter() - started)
    return {"p50_ms": stats.p50_ms, "rps": stats.rps}


async def run_variant(name: str, n: int) -> dict[str, dict[str, float]]:
    async with AsyncExitStack() as stack:
        url, agent_kw, caller_kw = await VARIANTS[name](stack)
        await stack.enter_async_context(AgentServer(AgentConfig(
            ref=AGENT.ref, card=bench_card(), executor=BenchExecutor(),
            connection=ConnectionSettings(url=url),
            session_expiry=0, **agent_kw)))
        client = await stack.enter_async_context(A2AMqttClient(RequesterConfig(
            connection=ConnectionSettings(url=url), **caller_kw), discover=False))
        transport = client.transport_for(AgentRef.parse(str(AGENT.ref)),
                                         card=bench_card())

        async def send() -> None:
            await transport.send_message(_request())

        await _measure(send, 50, 10)  # warm-up
        return {f"{k} in flight": await _measure(send, n, k) for k in (1, 100)}


async def main(args: argparse.Namespace) -> None:
    names = list(VARIANTS)
    rounds: dict[str, list[dict[str, dict[str, float]]]] = {v: [] for v in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            rounds[name].append(await run_variant(name, args.requests))
    cells = [f"{k} in flight" for k in (1, 100)]
    print(f"secure_cost: median of {args.rounds} round(s), {args.requests} requests per cell; "
          "shared, noisy 2-core machine")
    print(f"{'variant':<10}" + "".join(f"{c + ' p50 ms':>22}{c + ' req/s':>22}"
                                        for c in cells) + f"{'p50 ratio (1)':>16}")
    base = median([r[cells[0]]["p50_ms"] for r in rounds["plain"]])
    for name in names:
        row = f"{name:<10}"
        for cell in cells:
            row += f"{median([r[cell]['p50_ms'] for r in rounds[name]]):>22.2f}"
            row += f"{median([r[cell]['rps'] for r in rounds[name]]):>22.0f}"
        p50 = median([r[cells[0]]["p50_ms"] for r in rounds[name]])
        print(row + f"{p50 / base:>15.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.rounds, parsed.requests = 1, 100
    asyncio.run(main(parsed))
