"""A CPU cap per process (Linux cgroups), to stand in for "each on a small host of its own".

``with cpu_cap(0.25) as cap: cap.add(pid)`` puts a process (all its threads, and the
children it forks later) in a cgroup of its own whose CFS bandwidth is 0.25 of a core:
25 ms of CPU per 100 ms period, after which the kernel stops running it until the next
period. On leaving the block — normally, on an error or on Ctrl-C (``KeyboardInterrupt``
and ``CancelledError`` pass through ``finally``) — any process still inside is moved
back to the hierarchy's root and the cgroup is removed.

Both hierarchies are handled:

* cgroup v2, when ``/sys/fs/cgroup`` itself is a ``cgroup2`` mount: the child cgroup is
  made under the root, ``cpu.max`` = ``"<quota> <period>"``; the root must list ``cpu``
  in ``cgroup.controllers`` (it is added to ``cgroup.subtree_control`` if missing);
* cgroup v1: the mount whose options name the ``cpu`` controller (``/sys/fs/cgroup/cpu``
  or ``/sys/fs/cgroup/cpu,cpuacct``), ``cpu.cfs_period_us`` and ``cpu.cfs_quota_us``.

Writing there needs root (or a delegated hierarchy); :func:`find_controller` raises
:class:`CpuCapError` with the reason when it cannot be done, before anything is made.
The mount parsing and the quota arithmetic are pure (tested without cgroups).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Controller",
    "CpuCap",
    "CpuCapError",
    "cpu_cap",
    "find_controller",
    "interrupt_on_term",
    "parse_mounts",
    "quota_for",
]

PERIOD_US = 100_000   # the kernel's default CFS period
MIN_QUOTA_US = 1_000  # the smallest quota the kernel accepts


class CpuCapError(RuntimeError):
    """The CPU cap cannot be set up here (no writable cpu controller, bad value)."""


@dataclass(frozen=True, kw_only=True)
class Controller:
    """Where the cpu controller is: cgroup ``version`` (1 or 2) and its ``root`` directory."""

    version: int
    root: Path


def quota_for(cores: float, *, period_us: int = PERIOD_US) -> tuple[int, int]:
    """(quota, period) in microseconds for ``cores`` of CPU (0.25 -> 25000 per 100000)."""
    if not cores > 0:
        raise CpuCapError(f"a CPU cap must be more than 0 cores, not {cores!r}")
    quota = round(cores * period_us)
    if quota < MIN_QUOTA_US:
        raise CpuCapError(f"a CPU cap of {cores} core is under the kernel's minimum "
                          f"({MIN_QUOTA_US / period_us} core)")
    return quota, period_us


def parse_mounts(mounts: str) -> Controller | None:
    """The cpu controller in a ``/proc/self/mounts`` text, or None.

    A ``cgroup2`` mount on ``/sys/fs/cgroup`` is the unified hierarchy (v2) and wins;
    otherwise the first ``cgroup`` (v1) mount whose options include ``cpu``. A cgroup2
    mount elsewhere (``/sys/fs/cgroup/unified``, the hybrid layout) has no cpu
    controller while v1 holds it, so it is not used.
    """
    v1: Controller | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        target, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup2" and target == "/sys/fs/cgroup":
            return Controller(version=2, root=Path(target))
        if fstype == "cgroup" and "cpu" in options and v1 is None:
            v1 = Controller(version=1, root=Path(target))
    return v1


def find_controller() -> Controller:
    """The writable cpu controller of this machine, or :class:`CpuCapError` saying why not."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8")
    except OSError as exc:
        raise CpuCapError(f"cannot read /proc/self/mounts ({exc}): not Linux?") from exc
    found = parse_mounts(mounts)
    if found is None:
        raise CpuCapError("no cgroup cpu controller is mounted (neither a cgroup2 "
                          "/sys/fs/cgroup nor a v1 'cpu' hierarchy)")
    if found.version == 2:
        controllers = (found.root / "cgroup.controllers").read_text(encoding="ascii").split()
        if "cpu" not in controllers:
            raise CpuCapError(f"cgroup v2 at {found.root} does not offer the cpu controller")
    if not os.access(found.root, os.W_OK):
        raise CpuCapError(f"cgroup v{found.version} at {found.root} is not writable by "
                          f"this user (run as root, or delegate a subtree)")
    return found


class CpuCap:
    """One capped cgroup (made by :func:`cpu_cap`): ``add(pid)``, ``throttled()``."""

    def __init__(self, *, controller: Controller, path: Path, cores: float) -> None:
        self.controller, self.path, self.cores = controller, path, cores

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into this cgroup."""
        (self.path / "cgroup.procs").write_text(f"{pid}\n", encoding="ascii")

    def pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text(encoding="ascii")
        except OSError:
            return []
        return [int(x) for x in text.split()]

    def throttled(self) -> tuple[int, int]:
        """(CFS periods in which the cgroup ran, periods it hit its cap), since made."""
        stat: dict[str, int] = {}
        for line in (self.path / "cpu.stat").read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                stat[key] = int(value)
        return stat.get("nr_periods", 0), stat.get("nr_throttled", 0)


def _enable_cpu_v2(root: Path) -> None:
    control = root / "cgroup.subtree_control"
    if "cpu" in control.read_text(encoding="ascii").split():
        return
    try:
        control.write_text("+cpu\n", encoding="ascii")
    except OSError as exc:
        raise CpuCapError(f"cannot enable the cpu controller below {root} ({exc}); "
                          "inside a container the namespace root holds processes, "
                          "which cgroup v2 forbids") from exc


def _release(cap: CpuCap) -> None:
    """Move whatever is left back to the root, then remove the cgroup (best effort:
    a cgroup left behind is empty, and harmless but for its name)."""
    root_procs = cap.controller.root / "cgroup.procs"
    for _ in range(50):
        for pid in cap.pids():
            with suppress(OSError):   # exited meanwhile
                root_procs.write_text(f"{pid}\n", encoding="ascii")
        try:
            cap.path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)  # a process still exiting; the kernel empties it shortly
    print(f"cpucap: could not remove {cap.path}; remove it with rmdir", flush=True)


def interrupt_on_term() -> None:
    """Make SIGTERM (``kill PID``) and SIGINT (even when a non-interactive shell started
    this process in the background with SIGINT ignored) stop it as Ctrl-C does:
    ``asyncio.run`` cancels the main task, so every ``cpu_cap`` block is left and its
    cgroup removed. Call before ``asyncio.run``, in the main thread."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: signal.raise_signal(signal.SIGINT))


@contextmanager
def cpu_cap(cores: float, *, name: str | None = None,
            controller: Controller | None = None) -> Iterator[CpuCap]:
    """A cgroup capped to ``cores`` of CPU, removed on exit (see the module docstring)."""
    quota, period = quota_for(cores)
    found = controller or find_controller()
    path = found.root / (name or f"a2a-mqtt-bench-{uuid.uuid4().hex[:10]}")
    try:
        if found.version == 2:
            _enable_cpu_v2(found.root)
        path.mkdir()
    except OSError as exc:
        raise CpuCapError(f"cannot make the cgroup {path}: {exc}") from exc
    cap = CpuCap(controller=found, path=path, cores=cores)
    try:
        if found.version == 2:
            (path / "cpu.max").write_text(f"{quota} {period}\n", encoding="ascii")
        else:
            (path / "cpu.cfs_period_us").write_text(f"{period}\n", encoding="ascii")
            (path / "cpu.cfs_quota_us").write_text(f"{quota}\n", encoding="ascii")
        yield cap
    finally:
        _release(cap)
