"""Medians over runs, ratios against one member, the printed report."""

from __future__ import annotations

import argparse
import math
import os
import statistics
from collections import defaultdict
from typing import Any

from pool_bench.measure import Result


def medians(results: list[Result]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.store, r.config)].append(r)
    rows = []
    for (store, config), rs in groups.items():

        def med(attr: str, rs: list[Result] = rs) -> float:
            values = [getattr(r, attr) for r in rs if not math.isnan(getattr(r, attr))]
            return statistics.median(values) if values else math.nan

        shares = [statistics.median(r.member_cpu_share) for r in rs if r.member_cpu_share]
        copies = [
            statistics.median(s.get("pool_copies", 0) for s in r.member_stats)
            for r in rs
            if r.member_stats
        ]
        lost = [
            statistics.median(
                s.get("copies_lost", 0) for s in r.member_stats
            )
            for r in rs
            if r.member_stats
        ]
        claim_ms = [
            sum(s.get("claim_seconds", 0.0) for s in r.member_stats) * 1000 / r.n
            for r in rs
            if r.member_stats and r.n
        ]
        rows.append(
            {
                "store": store,
                "config": config,
                "runs": len(rs),
                "members": rs[0].members,
                "dispatch": rs[0].dispatch,
                "rps": med("rps"),
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "errors": sum(r.errors for r in rs),
                "n": sum(r.n for r in rs),
                "cpu_members_ms": med("cpu_members_ms"),
                "cpu_broker_ms": med("cpu_broker_ms"),
                "cpu_client_ms": med("cpu_client_ms"),
                "cpu_postgres_ms": med("cpu_postgres_ms"),
                "machine_busy": med("machine_busy"),
                "machine_busy_all": med("machine_busy_all"),
                "member_run_delay": med("member_run_delay"),
                "member_system_share": med("member_system_share"),
                "db_errors": sum(r.db_errors for r in rs),
                "unhandled_claim_errors": sum(r.unhandled_claim_errors for r in rs),
                "member_cpu_share": statistics.median(shares) if shares else math.nan,
                "copies_per_member": statistics.median(copies) if copies else math.nan,
                "claims_lost_per_member": statistics.median(lost) if lost else math.nan,
                "claim_ms_per_request": statistics.median(claim_ms) if claim_ms else math.nan,
                "rps_runs": [round(r.rps, 1) for r in rs],
            }
        )
    return rows


def ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    by = {(r["store"], r["config"]): r["rps"] for r in rows}
    for store in sorted({r["store"] for r in rows}):
        one = by.get((store, "pool-1"), math.nan)
        single = by.get((store, "single"), math.nan)
        entry = {
            "pool-2 / pool-1": by.get((store, "pool-2"), math.nan) / one,
            "pool-4 / pool-1": by.get((store, "pool-4"), math.nan) / one,
            "pool-1 / single": one / single,
            "pool-4 / single": by.get((store, "pool-4"), math.nan) / single,
            "rr-4 / single": by.get((store, "rr-4"), math.nan) / single,
            "pool-4 / rr-4": by.get((store, "pool-4"), math.nan)
            / by.get((store, "rr-4"), math.nan),
        }
        out[store] = {k: v for k, v in entry.items() if not math.isnan(v)}
    return out


def _f(value: float, digits: int = 1) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def print_report(
    rows: list[dict[str, Any]],
    rat: dict[str, dict[str, float]],
    spies: dict[str, Any],
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"Pool scaling: {args.inflight} in flight, {args.requests} requests per measurement, "
        f"executor sleep {args.delay * 1000:.0f} ms, max_concurrency {args.concurrency} per "
        f"agent; median of {args.runs} run(s); {os.cpu_count()} CPUs"
    )
    head = (
        "| store | row | dispatch | req/s | p50 ms | p99 ms | err | CPU ms/req: members"
        " | broker | client | postgres | CPU/member (cores) | run-queue wait/member "
        "| machine busy: ours | all |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        print(
            f"| {r['store']} | {r['config']} | {r['dispatch']} | {_f(r['rps'])} "
            f"| {_f(r['p50_ms'], 0)} | {_f(r['p99_ms'], 0)} | {r['errors']} "
            f"| {_f(r['cpu_members_ms'], 2)} | {_f(r['cpu_broker_ms'], 2)} "
            f"| {_f(r['cpu_client_ms'], 2)} | {_f(r['cpu_postgres_ms'], 2)} "
            f"| {_f(r['member_cpu_share'], 2)} | {_f(100 * r['member_run_delay'], 0)}% "
            f"| {_f(100 * r['machine_busy'], 0)}% | {_f(100 * r['machine_busy_all'], 0)}% |"
        )
    print()
    head2 = (
        "| store | row | copies received/member | copies lost to other members/member "
        "| claim wall ms/req (all members) | DB OperationalErrors in logs "
        "| request tasks died (unanswered copies) | kernel share of member CPU |"
    )
    print(head2)
    print("|" + "---|" * (head2.count("|") - 1))
    for r in rows:
        print(
            f"| {r['store']} | {r['config']} | {_f(r['copies_per_member'], 0)} "
            f"| {_f(r['claims_lost_per_member'], 0)} | {_f(r['claim_ms_per_request'], 1)} "
            f"| {r['db_errors']} | {r['unhandled_claim_errors']} "
            f"| {_f(100 * r['member_system_share'], 0)}% |"
        )
    print()
    for store, entry in rat.items():
        parts = ", ".join(f"{k} = {v:.2f}" for k, v in entry.items())
        if "pool-4 / pool-1" in entry:
            verdict = "meets" if entry["pool-4 / pool-1"] >= 3.5 else "MISSES"
            parts += f"  -> target pool-4 >= 3.5x pool-1: {verdict}"
        print(f"{store}: {parts}")
    for store, spy in spies.items():
        print()
        print(
            f"py-spy, {store} {args.spy_config}, agent 0 ({spy['rate_hz']} Hz, wall-clock "
            f"samples of busy threads): event loop {spy['loop_ms_per_request']:.2f} ms per "
            f"request it executed ({spy.get('agent0_executions')} of "
            f"{spy.get('pool_requests')}); worker threads "
            f"{spy['worker_threads_ms_per_request']:.2f} ms"
        )
        for name, v in spy["by_category"].items():
            print(f"  {v['percent']:5.1f}%  {v['ms_per_request']:.3f} ms  {name}")
