"""CPU time: this process from getrusage, others from /proc (Linux, 10 ms ticks).

CPU per request is a difference over thousands of requests, so the tick
resolution does not matter; :class:`CpuMeter` takes both readings.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path

__all__ = ["CpuMeter", "machine_busy_seconds", "proc_cpu_seconds", "self_cpu_seconds",
           "until_quiet"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def self_cpu_seconds() -> float:
    """User+system CPU seconds of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process (Linux /proc; 10 ms resolution), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the comm field: state is [0]; utime, stime are fields 14, 15 -> [11], [12]
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / _TICK, sum(fields) / _TICK


async def until_quiet(*, busy_below: float = 0.1, sample: float = 0.25,
                      limit: float = 15.0) -> tuple[float, float]:
    """Wait until the whole machine is less than ``busy_below`` busy (a fraction of all
    its cores) over one ``sample``, or ``limit`` seconds have passed: work a phase left
    behind (a child process's backlog, a broker's queue) must not be charged to the
    next phase. Returns (seconds waited, busy CPU seconds spent meanwhile)."""
    start, (busy0, _) = time.perf_counter(), machine_busy_seconds()
    while True:
        b0, t0 = machine_busy_seconds()
        await asyncio.sleep(sample)
        b1, t1 = machine_busy_seconds()
        waited = time.perf_counter() - start
        if (b1 - b0) < busy_below * max(t1 - t0, 1e-9) or waited >= limit:
            return waited, b1 - busy0


class CpuMeter:
    """CPU of named processes across one phase: ``start()``, run, ``per_request(n)``.

    ``pids`` maps a name to a pid, or to None for this process (getrusage). A
    process that vanished reads as None rather than failing the phase.
    """

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self._start: dict[str, float | None] = {}

    def _read(self) -> dict[str, float | None]:
        return {
            name: self_cpu_seconds() if pid is None else proc_cpu_seconds(pid)
            for name, pid in self.pids.items()
        }

    def start(self) -> None:
        self._start = self._read()

    def per_request(self, requests: int) -> dict[str, float | None]:
        """CPU milliseconds per request since ``start()``, by name."""
        end = self._read()
        done = max(1, requests)
        out: dict[str, float | None] = {}
        for name, a in self._start.items():
            b = end.get(name)
            out[name] = None if a is None or b is None else (b - a) * 1000 / done
        return out
