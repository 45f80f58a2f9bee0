"""The bench harness's pure parts: statistics, rotation, medians over runs, the table."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import bench_parser, finish_args
from harness.cpu import CpuMeter
from harness.report import markdown_table, write_json
from harness.runner import median_rows, paired_ratios, rotated, side_by_side
from harness.stats import (
    core_ceiling,
    median,
    median_interval,
    percentile,
    ratio,
    spread_components,
    summarize,
)
from harness.stores import store_url

floats = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(st.lists(floats, min_size=1), st.floats(min_value=0, max_value=1))
def test_percentile_is_an_element_between_min_and_max(values: list[float], q: float) -> None:
    ordered = sorted(values)
    p = percentile(ordered, q)
    assert p in ordered
    assert percentile(ordered, 0) == ordered[0]
    assert percentile(ordered, 1) == ordered[-1]


@given(st.lists(floats, min_size=1), st.floats(0, 1), st.floats(0, 1))
def test_percentile_is_monotone_in_q(values: list[float], a: float, b: float) -> None:
    ordered = sorted(values)
    lo, hi = sorted((a, b))
    assert percentile(ordered, lo) <= percentile(ordered, hi)


def test_summarize_milliseconds_and_rate() -> None:
    s = summarize([0.002, 0.001, 0.003, 0.004], 2.0, errors=1)
    assert (s.n, s.rps, s.errors) == (4, 2.0, 1)
    assert s.p50_ms == pytest.approx(3.0)  # nearest rank of 4 values at q=0.5: index 2
    assert s.p99_ms == pytest.approx(4.0)
    assert math.isnan(summarize([], 0.0).rps)


def test_median_skips_nan_and_ratio_refuses_missing() -> None:
    assert median([1.0, float("nan"), 3.0]) == 2.0
    assert math.isnan(median([float("nan")]))
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
    assert ratio(float("nan"), 1.0) is None


@given(st.lists(st.text(min_size=1), min_size=1, max_size=6, unique=True))
def test_rotation_puts_each_variant_first_once_per_cycle(variants: list[str]) -> None:
    orders = [rotated(variants, run) for run in range(1, len(variants) + 1)]
    assert all(sorted(o) == sorted(variants) for o in orders)
    assert sorted(o[0] for o in orders) == sorted(variants)


def test_side_by_side_measures_every_variant_every_run_in_rotated_order() -> None:
    seen: list[tuple[str, int]] = []

    async def measure(name: str, run: int) -> list[tuple[str, int]]:
        seen.append((name, run))
        return [(name, run)]

    got = asyncio.run(side_by_side(["a", "b", "c"], 3, measure))
    assert got == seen
    assert [n for n, _ in seen] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


@dataclass
class _R:
    variant: str
    scenario: str
    rps: float
    cpu_ms: float | None
    errors: int


def test_median_rows_groups_by_keys_and_sums_errors() -> None:
    results = [
        _R("ours", "seq", 100.0, 1.0, 0),
        _R("ours", "seq", 300.0, None, 2),
        _R("ours", "seq", 200.0, 3.0, 0),
        _R("http", "seq", 50.0, 5.0, 1),
    ]
    rows = median_rows(results, ("variant", "scenario"), ("rps", "cpu_ms"))
    assert rows[0] == {
        "variant": "ours", "scenario": "seq", "runs": 3, "rps": 200.0, "cpu_ms": 2.0,
        "errors": 2,
    }
    assert rows[1]["variant"] == "http"
    assert rows[1]["runs"] == 1


def test_paired_ratios_divide_by_the_same_runs_base() -> None:
    results = [
        {"variant": "one", "run": 1, "rps": 100.0},
        {"variant": "two", "run": 1, "rps": 150.0},
        {"variant": "two", "run": 2, "rps": 400.0},  # a fast moment: its own base
        {"variant": "one", "run": 2, "rps": 250.0},
        {"variant": "two", "run": 3, "rps": 90.0},  # no base in this run: no ratio
        {"variant": "one", "run": 4, "rps": 0.0},  # a zero base gives none either
        {"variant": "two", "run": 4, "rps": 10.0},
        {"variant": "two", "run": 5, "rps": None},
        {"variant": "one", "run": 5, "rps": 100.0},
    ]
    assert paired_ratios(results, base="one") == {"one": [1.0, 1.0, 1.0], "two": [1.5, 1.6]}


def test_markdown_table_formats_numbers_and_dashes_missing() -> None:
    text = markdown_table(
        [("variant", ""), ("req/s", ",.0f"), ("p50 ms", ".2f")],
        [{"variant": "ours", "req/s": 12345.6, "p50_ms": float("nan")}],
    )
    assert text.splitlines() == [
        "| variant | req/s | p50 ms |",
        "|---|---:|---:|",
        "| ours | 12,346 | - |",
    ]


def test_write_json_to_the_given_path(tmp_path: Path) -> None:
    out = write_json("x", {"a": 1}, tmp_path / "r.json")
    assert json.loads(out.read_text()) == {"a": 1}


def test_common_options_and_quick_overrides() -> None:
    parser = bench_parser("Doc line.\n\nMore.", runs=3)
    parser.add_argument("-n", type=int, default=1000)
    assert parser.description == "Doc line."
    args = finish_args(parser, ["--quick"], runs=1, n=20)
    assert (args.runs, args.n, args.json) == (1, 20, None)
    assert finish_args(parser, ["--runs", "5"], runs=1).runs == 5
    with pytest.raises(SystemExit):
        finish_args(parser, ["--runs", "0"])


def test_cpu_meter_reads_this_process_and_none_for_a_missing_pid() -> None:
    meter = CpuMeter({"self": None, "gone": 2**22 + 1})
    meter.start()
    sum(i * i for i in range(20000))
    got = meter.per_request(10)
    assert got["gone"] is None
    assert got["self"] is not None
    assert got["self"] >= 0


def test_store_url_names_a_store_of_each_kind(tmp_path: Path) -> None:
    async def url(kind: str) -> str:
        async with store_url(kind, tmp_path) as found:
            return found

    assert asyncio.run(url("memory")) == "memory://"
    assert asyncio.run(url("sqlite")) == f"sqlite:///{tmp_path}/tasks.db"
    with pytest.raises(ValueError, match="unknown store 'mongo'"):
        asyncio.run(url("mongo"))


@given(st.lists(floats, min_size=6, max_size=60))
def test_the_median_interval_holds_the_median_between_two_of_the_values(
        values: list[float]) -> None:
    low, high = median_interval(values)
    assert low in values and high in values
    assert low <= median(values) <= high


def test_the_median_interval_is_the_binomial_one_and_needs_six_values() -> None:
    assert all(math.isnan(v) for v in median_interval([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert median_interval([float(v) for v in range(1, 7)]) == (1.0, 6.0)
    # n = 25 at 95 %: the 8th and the 18th of the ordered values (tables of the sign test).
    assert median_interval([float(v) for v in range(25, 0, -1)]) == (8.0, 18.0)
    assert median_interval([float(v) for v in range(1, 26)], level=0.5) == (11.0, 15.0)


@given(st.lists(st.lists(st.floats(-10, 10), min_size=2, max_size=6), min_size=2,
                max_size=8))
def test_spread_components_are_finite_and_not_negative(groups: list[list[float]]) -> None:
    within, between = spread_components(groups)
    assert within >= 0 and between >= 0
    # Shifting one whole group moves only the between part.
    shifted = [[v + 100.0 * i for v in g] for i, g in enumerate(groups)]
    assert spread_components(shifted)[0] == pytest.approx(within, abs=1e-6)


def test_spread_components_separate_rounds_from_processes() -> None:
    # Identical processes whose rounds vary: all within, nothing between.
    within, between = spread_components([[1.0, 3.0], [1.0, 3.0], [1.0, 3.0]])
    assert within == pytest.approx(math.sqrt(2.0)) and between == 0.0
    # Processes that differ and rounds that agree: all between.
    within, between = spread_components([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert within == 0.0 and between == pytest.approx(1.0)
    # Means apart by less than their rounds' spread predicts: no between part.
    assert spread_components([[0.0, 2.0], [1.0, 3.0]]) == (2.0 ** 0.5, 0.0)
    # Too few groups of two rounds or more: nothing to say.
    assert all(math.isnan(v) for v in spread_components([[1.0, 2.0], [5.0]]))


def test_core_ceiling_is_the_tighter_bound_and_none_for_an_unread_cost() -> None:
    # One process at 0.5 ms a request tops out at 2,000 req/s; all of them at 1.6 ms on 2
    # cores at 1,250: the tighter bound holds.
    assert core_ceiling(0.5, 1.6, 2) == pytest.approx(1250.0)
    assert core_ceiling(0.8, 0.9, 2) == pytest.approx(1250.0)
    # A window too short for any clock tick reads 0 CPU: no ceiling, not a crash.
    assert core_ceiling(0.0, 0.0, 2) is None
    assert core_ceiling(0.0, 0.3, 2) is None
