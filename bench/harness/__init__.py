"""The one harness every benchmark in ``bench/`` shares.

A benchmark is a short file: it names its variants (things to compare), a
``measure`` coroutine for one (variant, run), and lets the harness do the rest:

* :mod:`harness.stats`: percentiles, :class:`Stats`, medians, ratios;
* :mod:`harness.cpu`: CPU seconds of this process (getrusage) and of others
  (/proc), :class:`CpuMeter` for CPU milliseconds per request;
* :mod:`harness.drive`: ``n`` requests with ``k`` in flight, timed;
* :mod:`harness.runner`: side-by-side runs (order rotated every run, so no
  variant always goes first), medians over runs;
* :mod:`harness.report`: the markdown table and the ``--json`` file;
* :mod:`harness.cli`: the common options (``--runs``, ``--quick``, ``--json``);
* :mod:`harness.procs`: child processes (this script re-invoked; the child's
  side: :func:`~harness.procs.stdin_closed`), free ports, a private broker;
* :mod:`harness.agent`: the one trivial executor and card every A2A variant
  runs (imports a2a-sdk, so it is not re-exported here: some benches must
  decide a2a-sdk's settings before it is imported);
* :mod:`harness.stores`: task store URLs (memory, SQLite, a throwaway
  PostgreSQL database);
* :mod:`harness.spy`: py-spy record/stop.
"""

from __future__ import annotations

from harness.cli import bench_parser, finish_args
from harness.cpu import CpuMeter, proc_cpu_seconds, self_cpu_seconds
from harness.drive import drive
from harness.report import fmt, markdown_table, write_json
from harness.runner import median_rows, paired_ratios, side_by_side
from harness.stats import Stats, median, percentile, ratio, summarize

__all__ = [
    "CpuMeter",
    "Stats",
    "bench_parser",
    "drive",
    "finish_args",
    "fmt",
    "markdown_table",
    "median",
    "median_rows",
    "paired_ratios",
    "percentile",
    "proc_cpu_seconds",
    "ratio",
    "self_cpu_seconds",
    "side_by_side",
    "summarize",
    "write_json",
]
