"""The CPU profile of our path: server and client profiled while sequential requests run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import tempfile
from pathlib import Path
from typing import Any

from a2a_bench.clients import Client
from a2a_bench.profile_parse import breakdown, breakdown_spy
from a2a_bench.scenarios import ServerProcess, drive, make_variant
from a2a_bench.settings import (
    log,
)
from harness.cpu import proc_cpu_seconds
from harness.spy import have_py_spy, start_py_spy, stop_py_spy


class _Pinning:
    """Pin the profiled process alone on the last CPU and everything else on the others,
    so a sample is (nearly) always CPU time: an unpinned process on a busy 2-core box
    sits runnable-but-preempted right after each send() wakes the broker, and a
    wall-clock sampler charges that wait to the frame that happened to be on top."""

    def __init__(self, alone: int, others: list[int]) -> None:
        self.alone, self.others = alone, others
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.active = len(self.cpus) >= 2

    def _set(self, pid: int, cpus: list[int]) -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)

    def __enter__(self) -> _Pinning:
        if self.active:
            self._set(self.alone, self.cpus[-1:])
            for pid in self.others:
                self._set(pid, self.cpus[:-1])
        return self

    def add_other(self, pid: int) -> None:
        if self.active:
            self._set(pid, self.cpus[:-1])

    def __exit__(self, *exc: object) -> None:
        if self.active:
            for pid in (self.alone, *self.others):
                self._set(pid, self.cpus)


async def _spy_pass(
    side: str,
    server: ServerProcess,
    client: Client,
    *,
    broker_pid: int | None,
    out: Path,
    n: int,
    rate: int,
    pin: bool,
    inflight: int = 1,
) -> dict[str, Any]:
    """Sample one side (``server`` or ``client``) during ``n`` requests, ``inflight`` at a time."""
    me = os.getpid()
    target = server.pid if side == "server" else me
    others = [p for p in (server.pid, me, broker_pid) if p is not None and p != target]
    pinning = _Pinning(target, others if pin else [])
    pinning.active = pinning.active and pin
    with pinning:
        spy = await start_py_spy(target, out, rate)
        pinning.add_other(spy.pid)
        try:
            await asyncio.sleep(1.5)  # let py-spy attach; idle samples are not recorded
            cpu0 = proc_cpu_seconds(target)
            _lat, seconds, errors = await drive(client, n, inflight)
            cpu1 = proc_cpu_seconds(target)
        finally:
            await stop_py_spy(spy, log=log, strict=True)
    result = breakdown_spy(str(out), n, rate)
    result["pinned"] = pinning.active
    measured = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1e6 / n
    result["measured_cpu_us_per_request"] = measured
    sampled = result["busy_us_per_request"]
    if measured and sampled:
        # Samples also land while the process is runnable but not running (other load on
        # the box, py-spy's own pauses): keep the shares, scale the µs to the CPU measured.
        scale = measured / sampled
        for table_name in ("by_layer", "own_by_package", "inclusive_by_package"):
            for entry in result[table_name].values():
                entry["us_per_request"] *= scale
        for entry in (*result["top_own"], *result["top_inclusive_ours"]):
            entry["us_per_request"] *= scale
        result["us_scaled_to_measured_cpu"] = True
    result["seconds"] = seconds
    result["errors"] = errors
    return result


async def profile_ours(
    broker_url: str, broker_pid: int | None, args: argparse.Namespace
) -> dict[str, Any]:
    tool = args.profiler
    if tool == "auto":
        tool = "py-spy" if have_py_spy() else "cprofile"
    server, client = make_variant("ours", broker_url, args.deadline)
    tmp = Path(tempfile.mkdtemp(prefix="a2a-compare-prof-"))
    n, rate = args.profile_n, args.spy_rate
    ext = "txt" if tool == "py-spy" else "prof"
    server_out, client_out = tmp / f"server.{ext}", tmp / f"client.{ext}"
    sides: dict[str, Any] = {}
    await server.start()
    try:
        await client.start()
        try:
            await drive(client, args.warmup, 1)
            if tool == "py-spy":
                for side, out in (("server", server_out), ("client", client_out)):
                    sides[side] = await _spy_pass(
                        side,
                        server,
                        client,
                        broker_pid=broker_pid,
                        out=out,
                        n=n,
                        rate=rate,
                        pin=not args.no_pin,
                        inflight=args.profile_inflight,
                    )
            else:
                await server.command("profile-start", "PROFILING")
                profiler = cProfile.Profile()
                profiler.enable()
                await drive(client, n, args.profile_inflight)
                profiler.disable()
                await server.command(f"profile-stop {server_out}", "PROFILED")
                profiler.dump_stats(str(client_out))
                sides = {
                    "server": breakdown(str(server_out), n),
                    "client": breakdown(str(client_out), n),
                }
        finally:
            await client.stop()
    finally:
        await server.stop()
    return {
        "tool": tool,
        "n": n,
        "inflight": args.profile_inflight,
        **sides,
        "files": {"server": str(server_out), "client": str(client_out)},
    }


def print_profile(prof: dict[str, Any]) -> None:
    if prof["tool"] == "py-spy":
        how = (
            f"py-spy sampling at {prof['server']['rate_hz']} Hz; own = leaf "
            "Python frame, including the C code it calls; inclusive = package anywhere "
            "on the stack"
        )
    else:
        how = (
            "cProfile (inflates call-heavy Python code); own time, C builtins charged to "
            "their caller's package; epoll wait excluded"
        )
    inflight = prof.get("inflight", 1)
    load = "sequential" if inflight == 1 else f"at {inflight} in flight"
    print(f"\nCPU profile of our path: {prof['n']} SendMessage requests {load}; {how}")
    for side in ("client", "server"):
        b = prof[side]
        measured = b.get("measured_cpu_us_per_request")
        print(
            f"\n  {side}: {b['busy_us_per_request']:.0f} µs sampled busy per request"
            + (
                f", {measured:.0f} µs CPU measured (/proc; µs below are scaled to it)"
                if measured is not None
                else ""
            )
            + (", pinned alone on one CPU" if b.get("pinned") else "")
        )
        if b.get("by_layer"):
            print(f"    {'layer (outermost owner on the stack)':<56} {'%':>6} {'µs/req':>8}")
            for layer, v in b["by_layer"].items():
                print(f"    {layer:<56} {v['percent']:5.1f}  {v['us_per_request']:8.1f}")
        incl = b.get("inclusive_by_package", {})
        print(
            f"    {'package (own time)':<36} {'own %':>6} {'µs/req':>8}"
            + ("  incl %" if incl else "")
        )
        for pkg, v in b["own_by_package"].items():
            extra = f"  {incl[pkg]['percent']:5.1f}" if pkg in incl else ""
            print(f"    {pkg:<36} {v['percent']:5.1f}  {v['us_per_request']:8.1f}{extra}")
        print("    top functions by own time (µs/req):")
        for item in b["top_own"][:12]:
            print(f"      {item['us_per_request']:7.1f}  {item['function']}")
        if b.get("top_inclusive_ours"):
            print("    our functions by inclusive time (µs/req, % of busy):")
            for item in b["top_inclusive_ours"][:12]:
                print(
                    f"      {item['us_per_request']:7.1f}  {item['percent']:5.1f} %  "
                    f"{item['function']}"
                )
