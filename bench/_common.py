"""Old name of the harness pieces (kept so scripts importing ``_common`` still run).

New benches import from :mod:`harness` (and :mod:`harness.agent`) directly.
"""

from __future__ import annotations

from harness.agent import BENCH_TEXT, BenchExecutor, bench_card
from harness.cpu import proc_cpu_seconds
from harness.stats import Stats, median, percentile, summarize

__all__ = [
    "BENCH_TEXT",
    "BenchExecutor",
    "Stats",
    "bench_card",
    "median",
    "percentile",
    "proc_cpu_seconds",
    "summarize",
]
