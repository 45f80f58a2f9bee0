"""CPU time: this process from getrusage, others from /proc (Linux, 10 ms ticks).

CPU per request is a difference over thousands of requests, so the tick
resolution does not matter; :class:`CpuMeter` takes both readings.
"""

from __future__ import annotations

import os
import resource

__all__ = ["CpuMeter", "proc_cpu_seconds", "self_cpu_seconds"]

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
