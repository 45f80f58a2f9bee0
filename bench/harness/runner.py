"""Side-by-side runs: every variant in every run, the order rotated per run.

Timing noise on a shared machine drifts over minutes, so comparisons come from
variants measured next to each other in one process run, the first variant
changing each run (ABC, BCA, CAB, ...), and quoted as medians over runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from harness.stats import median

__all__ = ["median_rows", "paired_ratios", "rotated", "side_by_side"]

R = TypeVar("R")


def rotated(variants: Sequence[str], run: int) -> list[str]:
    """The order of run ``run`` (1-based): shifted by one every run."""
    items = list(variants)
    if not items:
        return items
    shift = (run - 1) % len(items)
    return items[shift:] + items[:shift]


async def side_by_side(
    variants: Sequence[str],
    runs: int,
    measure: Callable[[str, int], Awaitable[list[R]]],
    *,
    progress: Callable[[int, str, list[R]], None] | None = None,
) -> list[R]:
    """``measure(variant, run)`` for every run and variant in rotated order; all results."""
    results: list[R] = []
    for run in range(1, runs + 1):
        for name in rotated(variants, run):
            got = await measure(name, run)
            results += got
            if progress is not None:
                progress(run, name, got)
    return results


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    return dataclasses.asdict(item)


def median_rows(
    results: Sequence[Any], keys: Sequence[str], fields: Sequence[str]
) -> list[dict[str, Any]]:
    """Group results (dataclasses or dicts) by ``keys``; each row holds the keys, the
    number of ``runs``, the median of every one of ``fields`` (None values skipped)
    and the sum of ``errors`` when results have it. Rows keep first-seen order."""
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in results:
        d = _as_dict(item)
        grouped.setdefault(tuple(d[k] for k in keys), []).append(d)
    rows = []
    for key, group in grouped.items():
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["runs"] = len(group)
        for f in fields:
            row[f] = median([g[f] for g in group if g.get(f) is not None])
        if "errors" in group[0]:
            row["errors"] = sum(int(g["errors"] or 0) for g in group)
        rows.append(row)
    return rows


def paired_ratios(results: Sequence[Any], *, base: str, key: str = "variant",
                  field: str = "rps") -> dict[str, list[float]]:
    """Per variant (``key``), its ``field`` over the same run's ``base`` variant, one
    ratio per run that measured both: the runs interleave the variants, so a pair
    shares the machine's state of that moment (read the median with
    ``harness.stats.median_interval``). Runs whose ``base`` is missing or zero give
    none; the base's own ratios are 1.0."""
    by_run: dict[Any, dict[str, float]] = {}
    for item in results:
        d = _as_dict(item)
        if d.get(field) is not None:
            by_run.setdefault(d["run"], {})[str(d[key])] = float(d[field])
    out: dict[str, list[float]] = {}
    for run in by_run.values():
        denominator = run.get(base)
        if denominator:
            for name, value in run.items():
                out.setdefault(name, []).append(value / denominator)
    return out
