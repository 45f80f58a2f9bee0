"""CPU per request of each server process on the gateway path, a2a-sdk spans on vs off.

Usage::

    python bench/gateway_cpu.py --n 800 --pairs 4

Reuses ``bench/gateway_compare.py``'s servers and client. Each pair starts
fresh processes twice, once with a2a-sdk's spans on everywhere and once with
each product's default (the gateway and agent turn them off, as the
``a2a-mqtt`` command does; the direct a2a-sdk server gets the user's
environment), in alternating order. At 1 in flight it reads from /proc the
CPU each process spent per request and the p50, for the direct server, the
gateway and the agent separately (gateway_compare reports their sum).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway_compare as g
from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker, free_port


async def one(broker_url: str, spans: str, n: int) -> dict[str, list[float]]:
    env_direct, env_ours = g.server_envs(spans)
    dport, gport = free_port(), free_port()
    agent = f"bench/gateway/echo-{uuid.uuid4().hex[:8]}"
    dl = ["--deadline", "600"]
    async with g.Server("--serve", "direct", "--port", str(dport), *dl, env=env_direct) as d, \
            g.Server("--serve", "agent", "--agent", agent, "--broker", broker_url, *dl,
                     env=env_ours) as a, \
            g.Server("--serve", "gateway", "--agent", agent, "--broker", broker_url,
                     "--port", str(gport), *dl, env=env_ours) as gw:
        out: dict[str, list[float]] = {}
        for name, url, procs in (("direct", f"http://127.0.0.1:{dport}/", [d]),
                                 ("gateway", f"http://127.0.0.1:{gport}/{agent}", [gw, a])):
            await g.drive(url, 100, 1)
            before = [p.cpu() for p in procs]
            latencies, _secs, _errors = await g.drive(url, n, 1)
            spent = zip(procs, before, strict=True)
            out[name] = [round((p.cpu() - c) * 1000 / n, 3) for p, c in spent]
            out[name].append(round(statistics.median(latencies) * 1000, 2))
        return out


async def main(args: argparse.Namespace) -> None:
    async with EmbeddedBroker(config=BrokerConfig()) as broker:
        for i in range(args.pairs):
            for spans in ("on", "default") if i % 2 == 0 else ("default", "on"):
                # direct: [cpu ms/req, p50 ms]; gateway: [gateway cpu, agent cpu, p50 ms]
                print(spans, await one(broker.url, spans, args.n), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--pairs", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
