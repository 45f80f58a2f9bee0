"""Medians over runs, the markdown table, ratios and targets; re-printing a results file."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a2a_bench.profile import print_profile
from a2a_bench.scenarios import Result
from a2a_bench.settings import (
    SCENARIOS,
    VARIANTS,
)
from harness.report import fmt
from harness.stats import median

# -- reporting ------------------------------------------------------------------------


def median_rows(results: list[Result]) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        grouped.setdefault((r.variant, r.scenario), []).append(r)
    rows = []
    for (variant, scenario), rs in grouped.items():

        def med(attr: str, rs: list[Result] = rs) -> float:
            return median([getattr(r, attr) for r in rs if getattr(r, attr) is not None])

        rows.append(
            {
                "variant": variant,
                "scenario": scenario,
                "runs": len(rs),
                "n": int(med("n")),
                "rps": med("rps"),
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "errors": sum(r.errors for r in rs),
                "cpu_client_ms": med("cpu_client_ms"),
                "cpu_server_ms": med("cpu_server_ms"),
                "cpu_broker_ms": med("cpu_broker_ms"),
                "load1": med("load1"),
                "server_spans": max(
                    {r.server_spans for r in rs}, key=[r.server_spans for r in rs].count
                ),
            }
        )
    order = {v: i for i, v in enumerate(VARIANTS)}
    sorder = {s: i for i, (s, _) in enumerate(SCENARIOS)}
    rows.sort(key=lambda r: (sorder[str(r["scenario"])], order[str(r["variant"])]))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | variant | n | req/s | p50 ms | p99 ms | CPU ms/req: client | "
        "server | broker | total | load | sdk spans | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        parts = [r.get(k) for k in ("cpu_client_ms", "cpu_server_ms", "cpu_broker_ms")]
        total = sum(p for p in parts if p is not None and not math.isnan(p))
        lines.append(
            f"| {r['scenario']} | {r['variant']} | {r['n']} | {fmt(r['rps'], ',.0f')} | "
            f"{fmt(r['p50_ms'], '.2f')} | {fmt(r['p99_ms'], '.2f')} | "
            f"{fmt(r['cpu_client_ms'], '.2f')} | {fmt(r['cpu_server_ms'], '.2f')} | "
            f"{fmt(r['cpu_broker_ms'], '.2f')} | {total:.2f} | {fmt(r.get('load1'), '.1f')} | "
            f"{r.get('server_spans') or '-'} | {r['errors']} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    at = {(r["variant"], r["scenario"]): r for r in rows}

    def get(variant: str, scenario: str, key: str) -> float | None:
        row = at.get((variant, scenario))
        return None if row is None else row[key]

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or not b else a / b

    seq, c100 = "sequential", "100 in flight"
    out: dict[str, Any] = {
        "p50 seq: ours / http (<= 1 meets)": ratio(
            get("ours", seq, "p50_ms"), get("http", seq, "p50_ms")
        ),
        "req/s @100: ours / http (>= 1 meets)": ratio(
            get("ours", c100, "rps"), get("http", c100, "rps")
        ),
        "req/s @100: ours / emqx (>= 2 meets)": ratio(
            get("ours", c100, "rps"), get("emqx", c100, "rps")
        ),
        "req/s @100: ours / emqx-mc100": ratio(
            get("ours", c100, "rps"), get("emqx-mc100", c100, "rps")
        ),
        "p50 seq: ours / http-aiohttp": ratio(
            get("ours", seq, "p50_ms"), get("http-aiohttp", seq, "p50_ms")
        ),
        "req/s @100: ours / http-aiohttp": ratio(
            get("ours", c100, "rps"), get("http-aiohttp", c100, "rps")
        ),
    }
    for scenario, _ in SCENARIOS:
        out[f"req/s {scenario}: ours / floor"] = ratio(
            get("ours", scenario, "rps"), get("floor", scenario, "rps")
        )
    out["p50 seq: ours / floor"] = ratio(get("ours", seq, "p50_ms"), get("floor", seq, "p50_ms"))
    return out


def targets(r: dict[str, Any]) -> dict[str, bool | None]:
    def check(key: str, ok: Callable[[float], bool]) -> bool | None:
        v = r.get(key)
        return None if v is None else ok(v)

    return {
        "sequential p50 <= a2a-sdk HTTP": check(
            "p50 seq: ours / http (<= 1 meets)", lambda v: v <= 1.0
        ),
        "throughput @100 >= a2a-sdk HTTP": check(
            "req/s @100: ours / http (>= 1 meets)", lambda v: v >= 1.0
        ),
        "throughput @100 >= 2x EMQX SDK": check(
            "req/s @100: ours / emqx (>= 2 meets)", lambda v: v >= 2.0
        ),
    }


def print_micro(micro_result: dict[str, Any], n: int) -> None:
    print(f"\na2a-sdk DefaultRequestHandler alone, in-process, no network (median of 5 x {n}):")
    for state in ("on", "off"):
        m = micro_result.get(f"spans_{state}")
        if m:
            print(
                f"  spans {state:<3}: {m['inflight_1_us']:5.0f} µs CPU per SendMessage at 1 in "
                f"flight, {m['inflight_100_us']:5.0f} µs at 100 in flight"
            )


def print_beyond_handler(rows: list[dict[str, Any]], micro_result: dict[str, Any]) -> None:
    """Server CPU per request minus the handler's own (same spans setting)."""
    print("\nServer CPU per request beyond the a2a-sdk handler (measured minus in-process):")
    for row in rows:
        if row["variant"] not in ("ours", "http") or row["scenario"] == "10 in flight":
            continue
        m = micro_result.get(f"spans_{row.get('server_spans')}")
        cpu = row["cpu_server_ms"]
        if not m or cpu is None or math.isnan(cpu):
            continue
        handler = m["inflight_1_us" if row["scenario"] == "sequential" else "inflight_100_us"]
        print(
            f"  {row['variant']:<5} {row['scenario']:<14} (spans {row['server_spans']}) server "
            f"{cpu * 1000:5.0f} µs - handler {handler:5.0f} µs = {cpu * 1000 - handler:5.0f} µs"
        )


def report(path: Path) -> int:
    """Re-print the tables of a results file (medians recomputed from the raw results)."""
    data = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(Result)}
    results = [Result(**{k: v for k, v in r.items() if k in fields}) for r in data["results"]]
    rows = median_rows(results)
    env = data["environment"]
    print(
        f"{path.name}: git {env['git']['head']} src {env['git']['src_sha256']}, "
        f"{env['cpus']} CPUs, load {env['loadavg_at_start'][0]:.1f} at start, "
        f"{data['args']['runs']} runs"
    )
    print(table(rows))
    print("\nRatios:")
    for k, v in ratios(rows).items():
        print(f"  {k:<42} {fmt(v, '.2f')}")
    for k, ok in targets(ratios(rows)).items():
        print(f"  {k:<42} {'met' if ok else ('MISSED' if ok is not None else '-')}")
    if data.get("profile"):
        print_profile(data["profile"])
    micro_result = data.get("micro")
    if micro_result and "spans_on" in micro_result:
        print_micro(micro_result, micro_result["spans_on"]["n"])
        print_beyond_handler(rows, micro_result)
    elif micro_result:
        print(
            f"\na2a-sdk handler alone: {micro_result['inflight_1_us']:.0f} µs (1 in flight), "
            f"{micro_result['inflight_100_us']:.0f} µs (100 in flight)"
        )
    return 0
