"""The run: every variant side by side in rotated order, then profile and micro; the options."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from a2a_bench.envinfo import environment
from a2a_bench.micro import micro_both
from a2a_bench.profile import print_profile, profile_ours
from a2a_bench.report import (
    median_rows,
    print_beyond_handler,
    print_micro,
    ratios,
    table,
    targets,
)
from a2a_bench.scenarios import Result, run_variant
from a2a_bench.servers import SERVERS
from a2a_bench.settings import (
    RESULTS_DIR,
    VARIANTS,
)
from harness.report import fmt

# -- main -----------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    from a2a_mqtt.broker import EmbeddedBroker

    env = environment()
    print(
        f"git {env['git']['head']} (src digest {env['git']['src_sha256']}, "
        f"{len(env['git']['modified'])} src paths modified)"
    )
    print(
        f"Python {env['python']} on {env['cpus']} CPUs, load {env['loadavg_at_start']}; "
        f"{env['mosquitto']}; uvicorn loop={env['uvicorn_loop']} http={env['uvicorn_http']}; "
        f"protobuf {env['protobuf_backend']}",
        flush=True,
    )
    results: list[Result] = []
    prof: dict[str, Any] | None = None
    started = time.perf_counter()
    async with asyncio.timeout(args.deadline), EmbeddedBroker() as broker:
        broker_pid = broker.process.pid
        print(f"broker {broker.url} (EmbeddedBroker, default BrokerConfig)", flush=True)
        if not args.profile_only:
            variants = list(args.variants)
            for run in range(1, args.runs + 1):
                # Rotate the order every run so no variant always goes first.
                shift = (run - 1) % len(variants)
                for name in variants[shift:] + variants[:shift]:
                    rs = await run_variant(name, broker.url, broker_pid, args, run)
                    results += rs
                    summary = "; ".join(
                        f"{r.scenario}: {r.rps:,.0f}/s p50 {r.p50_ms:.2f} ms"
                        + (f" ({r.errors} errors)" if r.errors else "")
                        for r in rs
                    )
                    print(f"run {run}/{args.runs} {name:<13} {summary}", flush=True)
        if args.profile_n > 0 and "ours" in args.variants:
            prof = await profile_ours(broker.url, broker_pid, args)
    micro_result = await micro_both(args) if args.micro_n > 0 else None
    if micro_result is not None:
        print_micro(micro_result, args.micro_n)
    rows = median_rows(results)
    rat = ratios(rows) if rows else {}
    tgt = targets(rat) if rows else {}
    if rows:
        print(
            f"\nMedians of {args.runs} run(s); sequential n={args.seq_n} (or "
            f"{args.seq_max_seconds:g} s), concurrent n={args.conc_n} (or "
            f"{args.conc_max_seconds:g} s), warm-up {args.warmup}+{args.warmup}"
        )
        print(table(rows))
        print("\nRatios:")
        for k, v in rat.items():
            print(f"  {k:<42} {fmt(v, '.2f')}")
        print("\nTargets:")
        for k, ok in tgt.items():
            print(f"  {k:<42} {'met' if ok else ('MISSED' if ok is not None else '-')}")
    if prof is not None:
        print_profile(prof)
    if micro_result is not None and rows:
        print_beyond_handler(rows, micro_result)
    elapsed = time.perf_counter() - started
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = (
        Path(args.json)
        if args.json
        else (RESULTS_DIR / f"a2a_compare-{time.strftime('%Y%m%d-%H%M%S')}.json")
    )
    out.write_text(
        json.dumps(
            {
                "environment": env,
                "elapsed_seconds": elapsed,
                "loadavg_at_end": os.getloadavg(),
                "args": {k: v for k, v in vars(args).items() if k != "serve"},
                "medians": rows,
                "ratios": rat,
                "targets": tgt,
                "profile": prof,
                "micro": micro_result,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
    )
    print(f"\n{elapsed:.0f} s; results written to {out}")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A2A SendMessage, side by side: a2a-mqtt vs a2a-sdk over HTTP vs the EMQX SDK "
        "vs raw MQTT."
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seq-n", type=int, default=1000)
    parser.add_argument("--conc-n", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--seq-max-seconds",
        type=float,
        default=10.0,
        help="cap on one sequential phase (the EMQX SDK does ~20 req/s)",
    )
    parser.add_argument(
        "--conc-max-seconds", type=float, default=20.0, help="cap on one concurrent phase"
    )
    parser.add_argument(
        "--profile-n",
        type=int,
        default=2000,
        help="requests profiled on our path (0 = skip)",
    )
    parser.add_argument(
        "--profile-inflight",
        type=int,
        default=1,
        help="requests in flight while profiling (1: sequential, the default; 100: the "
        "throughput phase's load)",
    )
    parser.add_argument("--profile-only", action="store_true")
    parser.add_argument(
        "--report", metavar="JSON", help="print the tables of an earlier results file and exit"
    )
    parser.add_argument(
        "--micro-n",
        type=int,
        default=1000,
        help="requests per round of the in-process handler/dispatcher split (0 = skip)",
    )
    parser.add_argument(
        "--profiler",
        choices=("auto", "py-spy", "cprofile"),
        default="auto",
        help="auto: py-spy if installed, else cProfile",
    )
    parser.add_argument("--spy-rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the profiled process alone on one CPU"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--deadline", type=float, default=1500.0, help="hard limit, seconds")
    parser.add_argument("--json", default=None, help="results file (default bench/results/...)")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in every server process, e.g. "
        "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=false (repeatable)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 run, n=100/300, warm-up 30, profile 200"
    )
    # Internal: run one server (child process).
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max-concurrent", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--micro-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.seq_n, args.conc_n, args.warmup = 1, 100, 300, 30
        args.profile_n = min(args.profile_n, 200)
        args.micro_n = min(args.micro_n, 200)
    for name in ("runs", "seq_n", "conc_n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def child(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"[{args.serve} server] %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(SERVERS[args.serve](args))
    return 0


if __name__ == "__main__":
    _args = parse_args(sys.argv[1:])
