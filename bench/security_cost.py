"""What security costs: plain vs TLS vs TLS + bearer verification vs ubsp-v1
(and TLS + logins + broker ACLs), in one run.

Usage::

    python bench/security_cost.py            # 3 rounds, ~1 min
    python bench/security_cost.py --quick    # 1 small round (smoke test)
    python bench/security_cost.py --variants plain tls+acl   # some variants only

One Mosquitto with a plain and a TLS listener (certificate from a local CA made
for the run), plus a ``SecureBroker`` for tls+acl. Five agents, one per variant,
all running ``BenchExecutor``; the requests are unary SendMessage through
``Requester.call`` (QoS 1):

* ``plain``: ``mqtt://``;
* ``tls``: ``mqtts://`` (TLS 1.2+ to Mosquitto, certificate verified);
* ``tls+acl``: ``SecureBroker`` (its own Mosquitto): TLS, a login per identity,
  dynamic-security ACLs and Client ID binding (was ``bench/secure_cost.py``);
* ``tls+bearer``: ``mqtts://``, every request carries ``a2a-authorization``
  (an ES256 JWT from the local issuer), the agent verifies it (JWKS over
  HTTPS, cached after the first fetch) and the skill scope;
* ``ubsp-v1``: ``mqtt://``, request and reply are JWE (ECDH-ES+A256KW on X25519,
  A256GCM).

Scenarios: 1 in flight (sequential) and 100 in flight. Agents and requesters
share this process and its event loop, so CPU spent on either side shows up in
latency. The variants' order rotates every round; every figure is the median
over rounds; the machine is shared, so compare ratios within one run, not
absolute numbers across runs.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

prefer_a2a_sdk_spans_off()  # first, as an a2a-mqtt process does (a2a_mqtt/telemetry.py)
# ruff: noqa: E402 - every import below comes after that start-up decision
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import bench_parser, drive, finish_args, markdown_table, median, summarize
from harness.runner import rotated, side_by_side
from harness.stats import Stats, ratio
from security_bench.scene import VARIANTS, Variant, scene

SCENARIOS = {"1": "sequential", "100": "parallel"}  # in flight -> its --option


async def measure(variant: Variant, *, in_flight: int, total: int) -> Stats:
    latencies, seconds, errors = await drive(variant.one, total, in_flight, timeout=60.0)
    return summarize(latencies, seconds, errors)


async def run(args: Any) -> dict[str, Any]:
    results: dict[str, dict[str, list[Stats]]] = {v: {k: [] for k in SCENARIOS} for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="a2a-mqtt-secbench-") as tmp:
        async with scene(Path(tmp), args.variants) as variants:
            by_name = {v.name: v for v in variants}
            for variant in variants:  # warm-up: connections, JWKS fetch, imports, caches
                await measure(variant, in_flight=10, total=50)

            async def one(name: str, rnd: int) -> list[None]:
                for k, option in SCENARIOS.items():
                    total = getattr(args, option)
                    stats = await measure(by_name[name], in_flight=int(k), total=total)
                    results[name][k].append(stats)
                return []

            def progress(rnd: int, name: str, _got: list[None]) -> None:
                if name == rotated(args.variants, rnd)[-1]:  # the round's last variant
                    print(f"round {rnd}/{args.runs} done", file=sys.stderr)

            await side_by_side(args.variants, args.runs, one, progress=progress)
    return report({k: v for k, v in results.items() if k in args.variants})


def report(results: dict[str, dict[str, list[Stats]]]) -> dict[str, Any]:
    """Medians per variant and scenario, ratios to the first variant (plain)."""
    names = list(results)
    out: dict[str, Any] = {}
    rows = []
    for name in names:
        row: dict[str, Any] = {"variant": name}
        out[name] = {}
        for k in SCENARIOS:
            p50 = median([s.p50_ms for s in results[name][k]])
            rps = median([s.rps for s in results[name][k]])
            base = results[names[0]][k]
            p50_ratio = ratio(p50, median([s.p50_ms for s in base]))
            rps_ratio = ratio(rps, median([s.rps for s in base]))
            errors = sum(s.errors for s in results[name][k])
            out[name][k] = {"p50_ms": round(p50, 2), "rps": round(rps, 1),
                            "p50_ratio": round(p50_ratio or float("nan"), 2),
                            "rps_ratio": round(rps_ratio or float("nan"), 2),
                            "errors": errors}
            row |= {f"p50 {k}": p50, f"x p50 {k}": p50_ratio, f"rps {k}": rps,
                    f"x rps {k}": rps_ratio}
            row["errors"] = row.get("errors", 0) + errors
        rows.append(row)
    print(f"Security cost (medians over rounds; ratios to {names[0]}; shared, noisy machine: "
          "read the ratios)")
    columns = [("variant", "")]
    for k in SCENARIOS:
        columns += [(f"p50 {k}", ".2f"), (f"x p50 {k}", ".2f"), (f"rps {k}", ",.0f"),
                    (f"x rps {k}", ".2f")]
    print(markdown_table([*columns, ("errors", "d")], rows))
    print("targets: tls+bearer p50 <= 1.3x plain; ubsp-v1 p50 <= 2x plain")
    return out


def parse_args(argv: list[str] | None = None) -> Any:
    parser = bench_parser(__doc__, quick="1 small round (smoke test)",
                          json_help="write the results here")
    parser.add_argument("--sequential", type=int, default=300, help="requests at 1 in flight")
    parser.add_argument("--parallel", type=int, default=3000, help="requests at 100 in flight")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    return finish_args(parser, argv, runs=1, sequential=50, parallel=300)


if __name__ == "__main__":
    from harness import write_json

    ns = parse_args()
    figures = asyncio.run(run(ns))
    if ns.json is not None:
        write_json("security_cost", figures, ns.json)
