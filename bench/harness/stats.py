"""Latency statistics: nearest-rank percentiles, one phase's :class:`Stats`, medians."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

__all__ = ["Stats", "median", "median_interval", "percentile", "ratio", "summarize"]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class Stats:
    """One timed phase: ``n`` answered requests in ``seconds``."""

    n: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def summarize(latencies: list[float], seconds: float, errors: int = 0) -> Stats:
    """Latencies in seconds -> :class:`Stats` (milliseconds, requests per second)."""
    ordered = sorted(latencies)
    return Stats(
        n=len(ordered),
        seconds=seconds,
        rps=len(ordered) / seconds if seconds > 0 else float("nan"),
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        errors=errors,
    )


def median(values: list[float]) -> float:
    """Median ignoring nan (a phase that measured nothing); nan when nothing is left."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing, nan or ``b`` is zero."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return None
    return a / b


def core_ceiling(busiest_ms: float, total_ms: float, cores: int) -> float | None:
    """Requests a second an idle machine of ``cores`` cores could serve at these CPU costs
    a request: no process beyond one core (``busiest_ms``: the busiest process's), all of
    them within every core (``total_ms``: every process's). None when a cost read 0: CPU
    is read in clock ticks (10 ms), and a process that used none in a short window bounds
    nothing."""
    if busiest_ms <= 0 or total_ms <= 0:
        return None
    return min(1000 / busiest_ms, cores * 1000 / total_ms)


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval for the median of ``values``: the order
    statistics ``x(j)`` and ``x(n+1-j)`` (1-based), ``j`` the largest for which
    ``P(Binomial(n, 1/2) < j) <= (1 - level) / 2``, so the interval holds the median
    with probability at least ``level`` for independent draws of any distribution.
    (nan, nan) when too few values allow none (fewer than 6 at 95 %)."""
    ordered = sorted(v for v in values if v is not None and not math.isnan(v))
    n = len(ordered)
    tail = (1.0 - level) / 2
    below, j = 0.0, 0
    while j <= n // 2:
        p = math.comb(n, j) / 2 ** n
        if below + p > tail:
            break
        below += p
        j += 1
    if j == 0:
        return float("nan"), float("nan")
    return ordered[j - 1], ordered[n - j]


def spread_components(groups: list[list[float]]) -> tuple[float, float]:
    """How much of the spread of ``groups`` (rounds, grouped by process) is within a
    group and how much between groups: the within-group standard deviation and the
    between-group one (the one-way random-effects estimates: the mean within-group
    variance, and the variance of the group means less its share of that; 0 when the
    groups' means vary no more than their rounds predict). Only groups of two values or
    more count; (nan, nan) when fewer than two such groups are given.

    A bench plans with it: when the within-group part dominates, more rounds per
    process narrow a verdict; when the between-group part does, only more processes do."""
    used = [[v for v in g if not math.isnan(v)] for g in groups]
    used = [g for g in used if len(g) >= 2]
    if len(used) < 2:
        return float("nan"), float("nan")
    within = statistics.fmean(statistics.variance(g) for g in used)
    size = statistics.fmean(len(g) for g in used)
    between = statistics.variance([statistics.fmean(g) for g in used]) - within / size
    return math.sqrt(within), math.sqrt(max(0.0, between))
