"""What observability costs in instructions: a count this noisy host cannot move.

Usage::

    python bench/observability_instructions.py                  # ~3 minutes
    python bench/observability_instructions.py --baseline /tmp/before/src  # + an older tree
    python bench/observability_instructions.py --calls 300 --rounds 1     # ~2 minutes

One Mosquitto, one OTLP/HTTP sink (``obs_bench.stage``), and one worker process
per source tree (``obs_bench/counted.py``: ``off``, ``metrics``, ``tracing-100`` and
``tracing-1`` side by side, as ``--interleaved`` hosts them) run under Valgrind's
callgrind (``apt-get install valgrind``), which counts every instruction the worker
executes (its event loop, its threads, the garbage collector, the C libraries) and,
apart, those of its children: the span export process and the metrics process. For
each mode and round the worker makes exactly ``--calls`` unary SendMessage calls at
100 in flight between two moments when nothing is in flight and the children have
done what they were handed, with the counters zeroed before and dumped after; the
figures are instructions per call. The children's include one ``/metrics`` render
per round (about 2 ms of the metrics process's CPU).

Why: time on this shared 2-core host moves by a quarter from one second to the next,
and two processes of the same code differ by up to 23 points (docs/performance.md,
Tracing, session 14). An instruction count repeats within about 1 % from round to
round and from process to process, so a change's effect on the work a request takes
is read in one short run. What it does not see: how fast those instructions run (cache
misses; the children's work on the other core, which slows this one's: Tracing,
session 15), and the host itself. Throughput targets are decided by
``observability_cost.py --interleaved --processes P``; this bench says where the
instructions are, and whether a change removed some.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

# As the a2a-mqtt command does at start-up: a2a-sdk's own spans off (docs/observability.md).
prefer_a2a_sdk_spans_off()

from harness.stats import median  # noqa: E402
from obs_bench.stage import BASE, stage  # noqa: E402
from obs_bench.worker import MIXED  # noqa: E402


def _total(dump: Path) -> int:
    """The instructions a callgrind dump counted (its ``summary:`` line)."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"{dump}: no summary line")


class Counted:
    """One worker process (and its children) under callgrind, driven over its pipes."""

    def __init__(self, label: str, proc: asyncio.subprocess.Process, out: Path) -> None:
        self.label, self.proc, self.out = label, proc, out

    async def _line(self) -> bytes:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label} died")
        return line.strip()

    async def _say(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def start(self, calls: int, mode: str) -> None:
        """Settle ``mode`` and wait at the line (counters are zeroed meanwhile)."""
        await self._say(f"count {calls} {mode}")
        if (line := await self._line()) != b"go":
            raise RuntimeError(f"worker {self.label}: {line!r}")

    async def run(self) -> None:
        await self._say("")
        if (line := await self._line()) != b"done":
            raise RuntimeError(f"worker {self.label}: {line!r}")

    async def close(self) -> None:
        await self._say("quit")
        await self.proc.wait()


async def _control(flag: str) -> None:
    """``callgrind_control`` for every process callgrind runs (workers and children)."""
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control", flag, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if await proc.wait() != 0:
        raise RuntimeError(f"callgrind_control {flag} failed")


def _dumps(out: Path) -> set[Path]:
    return set(out.glob("cg.*.*"))


def _by_pid(dumps: set[Path]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for dump in dumps:
        pid = int(dump.name.split(".")[1])
        counts[pid] = counts.get(pid, 0) + _total(dump)
    return counts


async def _dump(out: Path) -> dict[int, int]:
    """Dump every process's counts; the instructions each counted since the last zero."""
    before = _dumps(out)
    await _control("-d")
    return _by_pid(_dumps(out) - before)


async def _spawn(label: str, broker: str, sink: str, src: Path | None, out: Path) -> Counted:
    # The export process is given up on when it takes nothing for the exporter's timeout
    # (+ 5 s); under Valgrind it starts and works about fifty times slower.
    env = {**os.environ, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "600"}
    if src is not None:  # a2a_mqtt from that tree, ahead of the installed one
        env["PYTHONPATH"] = os.pathsep.join(
            [str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = await asyncio.create_subprocess_exec(
        "valgrind", "--tool=callgrind", "--cache-sim=no", "--trace-children=yes",
        f"--callgrind-out-file={out}/cg.%p", sys.executable, __file__, "--worker",
        "--broker", broker, "--sink", sink, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    counted = Counted(label, proc, out)
    if (line := await counted._line()) != b"ready":
        proc.kill()
        raise RuntimeError(f"worker {label} failed to start: {line!r}")
    return counted


async def measure(args: argparse.Namespace, broker: str, sink: str, out: Path
                  ) -> dict[str, dict[str, list[float]]]:
    trees: list[tuple[str, Path | None]] = [("", None)]
    if args.baseline is not None:
        trees.append((BASE, args.baseline))
    # The trees' workers run at once: a count does not depend on the other's load.
    workers = await asyncio.gather(*(_spawn(label or "current", broker, sink, src, out)
                                     for label, src in trees))
    got: dict[str, dict[str, list[float]]] = {}
    try:
        for r in range(args.rounds):
            order = MIXED if r % 2 == 0 else MIXED[::-1]
            for mode in order:
                await asyncio.gather(*(w.start(args.calls, mode) for w in workers))
                await _control("-z")
                await asyncio.gather(*(w.run() for w in workers))
                dumps = await _dump(out)
                children = _children_of(workers, dumps)
                for (label, _src), w in zip(trees, workers, strict=True):
                    row = got.setdefault(mode + label, {"worker": [], "children": []})
                    row["worker"].append(dumps[w.proc.pid] / args.calls)
                    row["children"].append(children[w.proc.pid] / args.calls)
                print(f"round {r + 1}/{args.rounds} {mode}: " + ", ".join(
                    f"{got[mode + label]['worker'][-1] / 1e6:.4f} M "
                    f"+ {got[mode + label]['children'][-1] / 1e6:.4f} M"
                    for label, _src in trees), flush=True)
    finally:
        for w in workers:
            await w.close()
    return got


def _children_of(workers: list[Counted], dumps: dict[int, int]) -> dict[int, int]:
    """The instructions each worker's children counted (a child: ``/proc``'s ppid)."""
    sums = {w.proc.pid: 0 for w in workers}
    for pid, n in dumps.items():
        if pid in sums:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone: a helper that ran and ended
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent in sums:
            sums[parent] += n
    return sums


def report(got: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"instructions_per_call": got, "variants": {}}
    print("\nInstructions per unary call (agent and requester in one worker process; its "
          "children: the span export and metrics processes), median over rounds")
    print(f"{'variant':22s} {'worker M':>9s} {'spread':>7s} {'x off':>7s} {'+instr':>8s} "
          f"{'children M':>10s} {'+instr':>8s} {'total x off':>11s}")
    for name, counts in got.items():
        base = got["off" + (BASE if name.endswith(BASE) else "")]
        own, off = median(counts["worker"]), median(base["worker"])
        kids, off_kids = median(counts["children"]), median(base["children"])
        spread = (max(counts["worker"]) - min(counts["worker"])) / own
        out["variants"][name] = {"worker": own, "children": kids, "x_off": own / off,
                                 "total_x_off": (own + kids) / (off + off_kids)}
        print(f"{name:22s} {own / 1e6:9.4f} {spread * 100:6.1f}% {own / off:7.3f} "
              f"{own - off:+8.0f} {kids / 1e6:10.4f} {kids - off_kids:+8.0f} "
              f"{(own + kids) / (off + off_kids):11.3f}")
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs Valgrind: apt-get install valgrind")
    async with stage("a2a-mqtt-obsinstr-") as (broker, sink, tmp):
        got = await measure(args, broker, sink, tmp)
    return report(got)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="Calls counted per round.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, default=None, metavar="SRC",
                        help="Also count a2a_mqtt from SRC (an older tree's src/, e.g. from "
                             "git archive), in a second worker at the same time.")
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sink", default=None, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker:
        from a2a_mqtt._loop import run
        from obs_bench.counted import serve_counted

        run(serve_counted(ns.broker, ns.sink))
        sys.exit(0)
    figures = asyncio.run(main(ns))
    if ns.json is not None:
        ns.json.write_text(json.dumps(figures, indent=2))
