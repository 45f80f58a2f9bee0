"""The run: every config side by side per store and run; the options."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.spy import have_py_spy
from pool_bench.measure import Result, measure
from pool_bench.member import serve
from pool_bench.processes import postgres_reachable
from pool_bench.report import medians, print_report, ratios
from pool_bench.settings import (
    CONFIGS,
    POSTGRES_DEFAULT,
    log,
)
from pool_bench.spy import spy_breakdown


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker

    started = time.monotonic()
    stores = [s for s in args.stores.split(",") if s]
    pg_version = None
    if "postgres" in stores:
        pg_version = await postgres_reachable(args.postgres)
        if pg_version is None:
            stores.remove("postgres")
    configs = [c for c in args.configs.split(",") if c]
    results: list[Result] = []
    spies: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="a2a-pool-bench-"))
    deadline_at = started + args.deadline
    stopped_early = False

    def report(partial: bool) -> dict[str, Any]:
        rows = medians(results)
        return {
            "environment": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "mosquitto": _mosquitto_version(),
                "postgres": pg_version,
                "loadavg_at_end": list(os.getloadavg()),
            },
            "args": {k: v for k, v in vars(args).items() if k not in ("serve", "json")},
            "elapsed_seconds": time.monotonic() - started,
            "partial": partial,
            "medians": rows,
            "ratios": ratios(rows),
            "py_spy": spies,
            "results": [asdict(r) for r in results],
        }

    def checkpoint() -> None:
        if args.json is not None:
            args.json.write_text(json.dumps(report(True), indent=2, default=str))

    def out_of_time() -> bool:
        nonlocal stopped_early
        if time.monotonic() < deadline_at:
            return False
        stopped_early = True
        log.warning("--deadline reached: reporting the %d measurement(s) done", len(results))
        return True

    try:
        # The hard bound: each measurement is bounded by --max-seconds and is checked
        # against --deadline before it starts; this catches anything else.
        async with (
            asyncio.timeout(args.deadline + args.max_seconds + 300),
            EmbeddedBroker(config=BrokerConfig(), state_dir=tmp / "broker") as broker,
        ):
            print(
                f"broker {broker.url} (generated config: {broker.process.config_path})",
                file=sys.stderr,
            )
            for store in stores:
                for run_no in range(1, args.runs + 1):
                    for config in configs:
                        if config == "single-mem" and store != stores[0]:
                            continue  # the in-memory control does not depend on the store
                        if out_of_time():
                            break
                        r = await measure(config, store, run_no, broker=broker, tmp=tmp, args=args)
                        results.append(r)
                        checkpoint()
                        print(
                            f"  {store:8} {config:10} run {run_no}: {r.rps:7.1f} req/s  "
                            f"p50 {r.p50_ms:6.0f} ms  p99 {r.p99_ms:6.0f} ms  "
                            f"err {r.errors}  busy ours {100 * r.machine_busy:3.0f}% "
                            f"all {100 * r.machine_busy_all:3.0f}% "
                            f"steal {100 * r.machine_steal:2.0f}%  "
                            f"run-queue wait {100 * r.member_run_delay:3.0f}%  "
                            f"members {[round(s, 2) for s in r.member_cpu_share]} "
                            f"(sys {100 * r.member_system_share:.0f}%)  "
                            f"served {r.served_by}  db-errors {r.db_errors} "
                            f"died {r.unhandled_claim_errors}",
                            file=sys.stderr,
                        )
                if args.spy and have_py_spy() and not out_of_time():
                    out = tmp / f"spy-{store}.txt"
                    r = await measure(
                        args.spy_config, store, 0, broker=broker, tmp=tmp, args=args, spy_out=out
                    )
                    if out.exists():
                        executed = (
                            int(r.member_stats[0].get("executions", 0)) if r.member_stats else r.n
                        )
                        spies[store] = spy_breakdown(out, args.spy_rate, executed)
                        spies[store]["rps_while_profiled"] = r.rps
                        spies[store]["pool_requests"] = r.n
                        spies[store]["agent0_executions"] = executed
                        checkpoint()
    except TimeoutError:
        stopped_early = True
        log.warning("hard time bound reached: reporting the %d measurement(s) done", len(results))
    finally:
        if args.keep_tmp:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    final = report(stopped_early)
    print_report(final["medians"], final["ratios"], spies, args)
    return final


def _mosquitto_version() -> str:
    try:
        from a2a_mqtt.broker import find_mosquitto

        out = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        )
        return (out.stdout or out.stderr).splitlines()[0]
    except Exception:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Does adding pool members add capacity? 1, 2 and 4 members side by side."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 run, PostgreSQL rows only, no py-spy (smoke test)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="max_concurrency of every agent: turns one member runs at once (default 1; "
        "see the module docstring for why)",
    )
    parser.add_argument(
        "--delay", type=float, default=0.05, help="seconds the executor sleeps (default 0.05)"
    )
    parser.add_argument(
        "--configs",
        default="single,pool-1,pool-2,pool-4,rr-4,single-mem",
        help=f"comma-separated, from {', '.join(CONFIGS)}",
    )
    parser.add_argument(
        "--stores",
        default="postgres,sqlite",
        help="postgres (the many-host store; skipped when unreachable) and/or sqlite",
    )
    parser.add_argument(
        "--postgres", default=os.environ.get("A2A_MQTT_BENCH_POSTGRES", POSTGRES_DEFAULT)
    )
    parser.add_argument("--pool-dispatch", default="auto", choices=("auto", "shared", "claim"))
    parser.add_argument(
        "--max-seconds", type=float, default=240.0, help="bound on one measurement's request phase"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=3600.0,
        help="bound on the whole bench (and on each agent process)",
    )
    parser.add_argument(
        "--spy",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="one extra py-spy'd --spy-config measurement per store (needs py-spy)",
    )
    parser.add_argument("--spy-rate", type=int, default=200)
    parser.add_argument(
        "--spy-config",
        default="pool-4",
        choices=CONFIGS,
        help="the row measured again under py-spy (its first agent)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--keep-tmp", action="store_true")
    # child mode
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--pool", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.serve:
        from a2a_mqtt._loop import run as run_loop  # members run like `a2a-mqtt` does

        run_loop(serve(args))
        return
    if args.quick:
        args.runs, args.stores, args.spy = 1, "postgres", False
    unknown = set(args.configs.split(",")) - set(CONFIGS) - {""}
    if unknown:
        parser.error(f"unknown configs {sorted(unknown)}")
    report = asyncio.run(run(args))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"results: {args.json}", file=sys.stderr)
