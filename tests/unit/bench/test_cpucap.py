"""The bench's CPU cap (harness/cpucap.py): pure parts, and a real capped busy loop."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cpu import proc_cpu_seconds
from harness.cpucap import (
    Controller,
    CpuCapError,
    cpu_cap,
    find_controller,
    parse_mounts,
    quota_for,
)

HYBRID = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
COMBINED_V1 = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
UNIFIED = ("proc /proc proc rw 0 0\n"
           "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n")


def test_parse_mounts_finds_v1_cpu_not_cpuacct_nor_hybrid_unified() -> None:
    assert parse_mounts(HYBRID) == Controller(version=1, root=Path("/sys/fs/cgroup/cpu"))
    assert parse_mounts(COMBINED_V1) == Controller(version=1,
                                                   root=Path("/sys/fs/cgroup/cpu,cpuacct"))


def test_parse_mounts_prefers_a_unified_sys_fs_cgroup() -> None:
    assert parse_mounts(UNIFIED) == Controller(version=2, root=Path("/sys/fs/cgroup"))
    assert parse_mounts(COMBINED_V1 + UNIFIED) == Controller(version=2,
                                                             root=Path("/sys/fs/cgroup"))


def test_parse_mounts_without_cpu_controller() -> None:
    assert parse_mounts("proc /proc proc rw 0 0\n\n") is None


def test_quota_for_a_quarter_core() -> None:
    assert quota_for(0.25) == (25_000, 100_000)
    assert quota_for(1.5) == (150_000, 100_000)


@pytest.mark.parametrize("cores", [0, -1, 0.001, float("nan")])
def test_quota_for_refuses_nonsense(cores: float) -> None:
    with pytest.raises(CpuCapError):
        quota_for(cores)


@given(st.floats(min_value=0.01, max_value=64))
def test_quota_is_the_fraction_of_the_period(cores: float) -> None:
    quota, period = quota_for(cores)
    assert abs(quota / period - cores) <= 0.5 / period


# --- real cgroups ----------------------------------------------------------------------


@pytest.fixture
def controller() -> Controller:
    try:
        return find_controller()
    except (CpuCapError, OSError) as exc:
        pytest.skip(f"no writable cgroup cpu controller here: {exc}")


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _cgroup_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii")


def test_a_capped_busy_loop_stays_under_its_cap(controller: Controller,
                                                busy: subprocess.Popen[bytes]) -> None:
    cores = 0.05   # below what an uncapped loop gets even on a busy 2-core machine
    with cpu_cap(cores, controller=controller) as cap:
        cap.add(busy.pid)
        assert cap.pids() == [busy.pid]
        assert cap.path.name in _cgroup_of(busy.pid)
        time.sleep(0.3)                         # into steady state
        cpu0, wall0 = proc_cpu_seconds(busy.pid), time.monotonic()
        time.sleep(2.0)                         # the measured span (CPU ticks are 10 ms)
        cpu1, wall1 = proc_cpu_seconds(busy.pid), time.monotonic()
        periods, throttled = cap.throttled()
        path = cap.path
    assert cpu0 is not None and cpu1 is not None
    used = (cpu1 - cpu0) / (wall1 - wall0)
    assert used <= cores * 1.2 + 0.01, f"{used:.3f} core used under a {cores} cap"
    assert periods > 0 and throttled > 0       # the kernel held it back, period after period
    # left behind: the loop still runs, moved out of the removed cgroup
    assert not path.exists()
    assert busy.poll() is None
    assert path.name not in _cgroup_of(busy.pid)


def test_the_cgroup_is_removed_after_an_error(controller: Controller,
                                              busy: subprocess.Popen[bytes]) -> None:
    made: list[Path] = []

    def interrupted() -> None:
        with cpu_cap(0.5, controller=controller) as cap:
            cap.add(busy.pid)
            made.append(cap.path)
            raise KeyboardInterrupt   # as Ctrl-C would, mid-bench

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert made and not made[0].exists()
    assert busy.poll() is None


def test_an_unwritable_controller_is_a_clear_error(tmp_path: Path) -> None:
    missing = Controller(version=1, root=tmp_path / "no-such-hierarchy")
    with pytest.raises(CpuCapError, match="cannot make the cgroup"), \
            cpu_cap(0.25, controller=missing):
        pass


CHILD = """
import asyncio, signal, sys
sys.path.insert(0, sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_IGN)   # as a background job of a script starts
from harness.cpucap import cpu_cap, interrupt_on_term
interrupt_on_term()

async def main():
    with cpu_cap(0.5) as cap:
        print(cap.path, flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


def test_sigterm_leaves_the_block_and_removes_the_cgroup(controller: Controller) -> None:
    bench = str(Path(__file__).resolve().parents[3] / "bench")
    with subprocess.Popen([sys.executable, "-c", CHILD, bench], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as proc:
        try:
            assert proc.stdout is not None
            path = Path(proc.stdout.readline().decode().strip())   # the block was entered
            assert path.is_dir()
            proc.terminate()
            proc.wait(20)
        finally:
            proc.kill()
    assert not path.exists()
