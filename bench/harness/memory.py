"""Memory and descriptors of a process (Linux /proc): what a soak or fuzz run watches
for leaks."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["open_fds", "rss_kib"]


def rss_kib(pid: int | str = "self") -> int | None:
    """Resident set size in KiB (``VmRSS``), or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def open_fds(pid: int | str = "self") -> int | None:
    """Number of open file descriptors, or None when the process is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
