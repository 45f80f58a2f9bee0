"""What security costs: plain vs TLS vs TLS + bearer verification vs ubsp-v1, in one run.

Usage::

    python bench/security_cost.py            # 3 rounds, ~1 min
    python bench/security_cost.py --quick    # 1 small round (smoke test)

One Mosquitto with a plain and a TLS listener (certificate from a local CA made
for the run). Four agents, one per variant, all running ``BenchExecutor``; the
requests are unary SendMessage through ``Requester.call`` (QoS 1):

* ``plain``: ``mqtt://``;
* ``tls``: ``mqtts://`` (TLS 1.2+ to Mosquitto, certificate verified);
* ``tls+bearer``: ``mqtts://``, every request carries ``a2a-authorization``
  (an ES256 JWT from the local issuer), the agent verifies it (JWKS over
  HTTPS, cached after the first fetch) and the skill scope;
* ``ubsp-v1``: ``mqtt://``, request and reply are JWE (ECDH-ES+A256KW on X25519,
  A256GCM).

Scenarios: 1 in flight (sequential) and 100 in flight. Agents and requesters
share this process and its event loop, so CPU spent on either side shows up in
latency. Every figure is the median over rounds; the machine is shared, so
compare ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

prefer_a2a_sdk_spans_off()  # first, as an a2a-mqtt process does (a2a_mqtt/telemetry.py)
# ruff: noqa: E402 - every import below comes after that start-up decision
from _common import BENCH_TEXT, BenchExecutor, Stats, bench_card, median, summarize
from a2a_mqtt.access.ca import LocalCA
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess
from a2a_mqtt.broker.config import free_port
from a2a_mqtt.client import Requester, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.security.authz import BearerAuthorizer, declare_bearer
from a2a_mqtt.security.bearer import BearerConfig, BearerVerifier
from a2a_mqtt.security.e2e import E2EContext
from a2a_mqtt.security.issuer import TokenIssuer
from a2a_mqtt.security.jwks_server import JwksServer, JwksServerConfig
from a2a_mqtt.security.keys import new_encryption_key
from a2a_mqtt.server import AgentConfig, AgentServer
from a2a_mqtt.transport.base import TLSConfig

VARIANTS = ("plain", "tls", "tls+bearer", "ubsp-v1")
ISSUER = "https://issuer.bench.test"


def _params() -> dict[str, Any]:
    return {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                        "parts": [{"text": BENCH_TEXT}], "taskId": str(uuid.uuid4()),
                        "contextId": str(uuid.uuid4())}}


class Variant:
    def __init__(self, name: str, requester: Requester, agent: AgentRef,
                 service_params: dict[str, str] | None) -> None:
        self.name = name
        self.requester = requester
        self.agent = agent
        self.service_params = service_params

    async def one(self) -> float:
        start = time.perf_counter()
        result = await self.requester.call(self.agent, "SendMessage", _params(),
                                           service_params=self.service_params)
        elapsed = time.perf_counter() - start
        if result["task"]["status"]["state"] != "TASK_STATE_COMPLETED":
            raise RuntimeError(f"{self.name}: unexpected result {result}")
        return elapsed


async def measure(variant: Variant, *, in_flight: int, total: int) -> Stats:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            latencies.append(await variant.one())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return summarize(latencies, time.perf_counter() - start)


@asynccontextmanager
async def scene(tmp: Path) -> AsyncIterator[list[Variant]]:
    ca = LocalCA(directory=tmp / "ca")
    hosts = ("localhost", "127.0.0.1")
    broker_cert = ca.issue_server(directory=tmp / "ca" / "broker", hosts=hosts)
    jwks_cert = ca.issue_server(directory=tmp / "ca" / "jwks", hosts=hosts)
    tls_port = free_port()
    broker = MosquittoProcess(config=BrokerConfig(
        state_dir=tmp / "broker", tls_port=tls_port, tls_certfile=broker_cert.cert_file,
        tls_keyfile=broker_cert.key_file))
    broker.start()
    plain_url, tls_url = broker.url, f"mqtts://127.0.0.1:{tls_port}"
    tls = TLSConfig(ca_file=str(ca.cert_file))
    issuer = TokenIssuer.create(tmp / "issuer", issuer=ISSUER)
    run = uuid.uuid4().hex[:6]
    refs = {v: AgentRef("bench", "security", f"{v.replace('+', '-')}-{run}") for v in VARIANTS}
    try:
        async with AsyncExitStack() as stack:
            jwks = await stack.enter_async_context(JwksServer(JwksServerConfig(
                issuer_dir=tmp / "issuer", cert_file=jwks_cert.cert_file,
                key_file=jwks_cert.key_file)))
            bearer_ref = refs["tls+bearer"]
            verifier = BearerVerifier(BearerConfig(
                issuer=ISSUER, audience=str(bearer_ref), jwks_url=jwks.jwks_url,
                ca_file=ca.cert_file))
            agent_e2e = E2EContext(identity=str(refs["ubsp-v1"]), key=new_encryption_key())
            agents = {
                "plain": AgentConfig(ref=refs["plain"], card=bench_card(),
                                     executor=BenchExecutor(),
                                     connection=ConnectionSettings(url=plain_url)),
                "tls": AgentConfig(ref=refs["tls"], card=bench_card(), executor=BenchExecutor(),
                                   connection=ConnectionSettings(url=tls_url, tls=tls)),
                "tls+bearer": AgentConfig(
                    ref=bearer_ref, card=declare_bearer(bench_card(),
                                                        skill_scopes={"echo": ["echo:run"]}),
                    executor=BenchExecutor(), connection=ConnectionSettings(url=tls_url,
                                                                            tls=tls),
                                                                            authorizer=BearerAuthorizer(verifier)),
                "ubsp-v1": AgentConfig(ref=refs["ubsp-v1"], card=bench_card(),
                                       executor=BenchExecutor(),
                                       connection=ConnectionSettings(url=plain_url),
                                       e2e=agent_e2e),
            }
            servers = {}
            for name, cfg in agents.items():
                servers[name] = await stack.enter_async_context(
                    AgentServer(_with(cfg, session_expiry=0, watch_broker_drops=False)))
            req_e2e = E2EContext(identity=f"bench/clients/req-{run}", key=new_encryption_key())
            req_e2e.learn(str(refs["ubsp-v1"]), servers["ubsp-v1"].card)
            common = {"org": "bench", "unit": "clients", "max_attempts": 1,
                      "reply_first_timeout": 30.0}
            requesters = {
                "plain": RequesterConfig(connection=ConnectionSettings(url=plain_url), **common),
                "tls": RequesterConfig(connection=ConnectionSettings(url=tls_url, tls=tls),
                                       **common),
                "tls+bearer": RequesterConfig(connection=ConnectionSettings(url=tls_url, tls=tls),
                                              **common),
                "ubsp-v1": RequesterConfig(connection=ConnectionSettings(url=plain_url),
                                           e2e=req_e2e,
                                           requester_id=f"req-{run}", **common),
            }
            token = issuer.issue(subject="bench", audience=str(bearer_ref),
                                 scopes=["echo:run"], ttl=3600)
            variants = []
            for name in VARIANTS:
                requester = await stack.enter_async_context(Requester(requesters[name]))
                sp = {"Authorization": f"Bearer {token}"} if name == "tls+bearer" else None
                variants.append(Variant(name, requester, refs[name], sp))
            yield variants
    finally:
        broker.stop()


def _with(cfg: AgentConfig, **changes: Any) -> AgentConfig:
    from dataclasses import replace

    return replace(cfg, **changes)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, dict[str, list[Stats]]] = {v: {"1": [], "100": []} for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="a2a-mqtt-secbench-") as tmp:
        async with scene(Path(tmp)) as variants:
            for variant in variants:  # warm-up: connections, JWKS fetch, imports, caches
                await measure(variant, in_flight=10, total=50)
            for rnd in range(args.rounds):
                for variant in variants:
                    seq = await measure(variant, in_flight=1, total=args.sequential)
                    par = await measure(variant, in_flight=100, total=args.parallel)
                    results[variant.name]["1"].append(seq)
                    results[variant.name]["100"].append(par)
                print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    return report(results)


def report(results: dict[str, dict[str, list[Stats]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = {k: median([s.p50_ms for s in results["plain"][k]]) for k in ("1", "100")}
    base_rps = {k: median([s.rps for s in results["plain"][k]]) for k in ("1", "100")}
    print("Security cost (medians over rounds; shared, noisy machine: read the ratios)")
    print(f"{'variant':<12} {'p50 1':>8} {'x':>6} {'rps 1':>8} {'p50 100':>9} {'x':>6} "
          f"{'rps 100':>9} {'x rps':>6}")
    for name in VARIANTS:
        row: dict[str, Any] = {}
        for k in ("1", "100"):
            p50 = median([s.p50_ms for s in results[name][k]])
            rps = median([s.rps for s in results[name][k]])
            row[k] = {"p50_ms": round(p50, 2), "rps": round(rps, 1),
                      "p50_ratio": round(p50 / base[k], 2),
                      "rps_ratio": round(rps / base_rps[k], 2)}
        out[name] = row
        print(f"{name:<12} {row['1']['p50_ms']:>8.2f} {row['1']['p50_ratio']:>6.2f} "
              f"{row['1']['rps']:>8.0f} {row['100']['p50_ms']:>9.2f} "
              f"{row['100']['p50_ratio']:>6.2f} {row['100']['rps']:>9.0f} "
              f"{row['100']['rps_ratio']:>6.2f}")
    print("targets: tls+bearer p50 <= 1.3x plain; ubsp-v1 p50 <= 2x plain")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=3000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    ns = parser.parse_args()
    if ns.quick:
        ns.rounds, ns.sequential, ns.parallel = 1, 50, 300
    figures = asyncio.run(main(ns))
    if ns.json is not None:
        ns.json.write_text(json.dumps(figures, indent=2))
