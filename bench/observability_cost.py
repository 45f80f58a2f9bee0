"""What observability costs: metrics and tracing against neither, side by side in one run.

Usage::

    python bench/observability_cost.py              # 7 rounds, about 6 minutes
    python bench/observability_cost.py --baseline /tmp/before/src  # + the old code, ~7
    python bench/observability_cost.py --quick      # 1 short round (smoke test)
    python bench/observability_cost.py --interleaved --rounds 60 --solo 1  # one process, ~7 min
    python bench/observability_cost.py --interleaved --processes 12 --rounds 5 --solo 1  # ~8 min
    python bench/observability_cost.py --interleaved --processes 16 --rounds 4 --solo 1 \
        --baseline /tmp/before/src  # every other process runs the old tree
    python bench/observability_cost.py --service-loop  # workers as services run

One Mosquitto, one OTLP/HTTP sink process (a real HTTP/1.1 server that reads each
POST and answers 200 without parsing it, as a collector on another machine would
cost nothing here), and one worker process per variant (``obs_bench/worker.py``:
its own agent, ``BenchExecutor``, and its own requester, unary SendMessage at QoS 1
at 100 in flight; CPU per request is the whole worker process's, the span
exporter's thread included). Variants (``obs_bench.worker.VARIANTS``):

* ``off``: no metrics, no tracing;
* ``metrics``: agent and requester metrics, ``/metrics`` scraped every 5 s;
* ``metrics-no-http``: the same instruments, no port, no scrapes;
* ``tracing-100``, ``tracing-1``: tracing alone, 100 % and 1 % of new traces sampled,
  every sampled span exported to the sink (three per request: the requester's
  call, the agent's handling, the executor);
* ``tracing-100+metrics``: both, as an operator would run them;
* with ``--baseline SRC``: ``<variant>@baseline`` workers run a2a_mqtt from another
  source tree (an older commit's ``src/``), so before and after meet in one run.

Workers run on plain ``asyncio.run`` with Python's default garbage collector; with
``--service-loop`` they run as the ``a2a-mqtt`` services do (``a2a_mqtt._loop.run``:
uvloop when installed, the collector tuned and the start-up heap frozen), where
objects that live long (a span held for a whole call) cost far less collection.

Three measurements, because the machine is shared:

* **rounds**: each round runs every variant alone, one after the other (order
  rotated), for ``--solo`` seconds; medians over rounds and the median of the
  per-round (paired) ratios to that round's ``off``. After every window the bench
  waits until the machine is quiet (``harness.cpu.until_quiet``): a variant's
  children may still be working off its window (the metrics process's rows, the
  export process's spans), and that must not run in the next variant's window;
* **head to head**: ``off`` and one variant at the same time for ``--head-to-head``
  seconds, per round: both see the same load, the OS shares the CPU, so a variant
  that costs x % more CPU per request completes about x % fewer;
* **alone**: the CPU microseconds recording adds per request, no I/O
  (``obs_bench/alone.py``).

With ``--interleaved``, one worker process hosts ``off``, ``metrics``, ``tracing-100``
and ``tracing-1`` side by side (``obs_bench.worker.serve_mixed``) and each round drives
each alone, order rotated: adjacent windows of one process see the same machine, which
on the shared host changes speed by up to half from one second to the next. Every run
ends with a verdict per target from the distribution-free 95 % interval of the median
paired ratio (``harness.stats.median_interval``): met, missed, or undecided.

Beside the worker's own CPU per request, the report gives its event loop's run-queue
wait per request (runnable while other work held the CPU): at 100 in flight the loop
never sleeps, so a variant's throughput is about 1 / (own CPU + wait) per request.

Targets (issue #12), at 100 in flight: metrics cost at most 5 % of throughput,
tracing at 100 % at most 15 %. Read ratios, never absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

# As the a2a-mqtt command does at start-up: a2a-sdk's own spans off (docs/observability.md).
prefer_a2a_sdk_spans_off()

from _common import median  # noqa: E402
from harness.cpu import until_quiet  # noqa: E402
from harness.stats import median_interval, spread_components  # noqa: E402
from obs_bench.stage import BASE, stage  # noqa: E402
from obs_bench.worker import MIXED, VARIANTS  # noqa: E402

MIXED_WORKER = "mixed"

TARGETS = {"metrics": 0.95, "tracing-100": 0.85}
"""Issue #12's floors for throughput against ``off``. A verdict reads the 95 %
interval of the median paired ratio (``harness.stats.median_interval``): met when
its lower end is at the target or above, missed when its upper end is below it,
undecided otherwise (more rounds narrow it)."""


class Worker:
    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name, self.proc = name, proc

    async def start(self, seconds: float, mode: str = "") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"run {seconds} {mode}".strip().encode() + b"\n")
        await self.proc.stdin.drain()

    async def result(self) -> dict[str, float]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} died")
        out: dict[str, float] = json.loads(line)
        return out


async def _spawn(name: str, broker: str, sink: str, baseline: Path | None,
                 service_loop: bool) -> Worker:
    env = None
    if name.endswith(BASE):  # a2a_mqtt from the baseline tree, ahead of the installed one
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(baseline), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", name.removesuffix(BASE), "--broker", broker,
        "--sink", sink, *(["--service-loop"] if service_loop else []),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    if line.strip() != b"ready":
        proc.kill()
        raise RuntimeError(f"worker {name} failed to start: {line!r}")
    return Worker(name, proc)


async def _together(workers: list[Worker], seconds: float) -> list[dict[str, float]]:
    for w in workers:  # all start measuring at (almost) the same moment
        await w.start(seconds)
    results = [await w.result() for w in workers]
    # What a window left behind (a metrics or export process's backlog, calls finishing
    # after the deadline) runs out before the next window starts: it is not charged to
    # whichever variant comes next. The busy CPU of that wait is reported as the spill.
    _, busy = await until_quiet()
    for r in results:
        r["spill_cpu_s"] = busy / len(results)
    return results


async def measure(args: argparse.Namespace, broker: str, sink: str) -> dict[str, Any]:
    names = [spec.name for spec in VARIANTS
             if args.variants is None or spec.name in {"off", *args.variants.split(",")}]
    if args.baseline is not None:
        names += [f"{name}{BASE}" for name in args.baseline_variants.split(",")]
    workers = {name: await _spawn(name, broker, sink, args.baseline, args.service_loop)
               for name in names}
    try:
        solo: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for rnd in range(args.rounds):
            for name in names[rnd % len(names):] + names[:rnd % len(names)]:
                solo[name].append((await _together([workers[name]], args.solo))[0])
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
        pairs: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {}
        for name in names[1:]:
            pairs[name] = []
            for _ in range(args.rounds):
                off, variant = await _together([workers["off"], workers[name]],
                                               args.head_to_head)
                pairs[name].append((off, variant))
            print(f"head to head {name} done", file=sys.stderr)
    finally:
        for w in workers.values():
            if w.proc.returncode is None:
                assert w.proc.stdin is not None
                w.proc.stdin.write(b"quit\n")
                await w.proc.stdin.drain()
        for w in workers.values():
            try:
                await asyncio.wait_for(w.proc.wait(), 15)
            except TimeoutError:
                w.proc.kill()  # ours: never leave a worker behind
                await w.proc.wait()
    return {"solo": solo, "pairs": pairs}


async def measure_interleaved(args: argparse.Namespace, broker: str, sink: str
                              ) -> dict[str, Any]:
    """``--interleaved``: one worker process hosts ``off``, ``metrics``, ``tracing-100``
    and ``tracing-1`` (``obs_bench.worker.serve_mixed``); each round runs each alone, order
    rotated, waiting for a quiet machine after every window. With ``--processes P``, P
    such processes one after another, ``--rounds`` rounds each: a process's own speed
    differs from the next one's (its heap's and hash tables' layout), by more than the
    targets' margins, so a verdict needs many (docs/performance.md, Tracing, session 14)."""
    solo: dict[str, list[dict[str, float]]] = {mode: [] for mode in MIXED}
    for proc in range(args.processes):
        # With --baseline, every other process runs the baseline tree: before and after
        # each over as many processes, in the same minutes.
        base = args.baseline is not None and proc % 2 == 1
        worker = await _spawn(MIXED_WORKER + (BASE if base else ""), broker, sink,
                              args.baseline, args.service_loop)
        try:
            for rnd in range(args.rounds):
                for mode in MIXED[rnd % len(MIXED):] + MIXED[:rnd % len(MIXED)]:
                    await worker.start(args.solo, mode)
                    result = await worker.result()
                    _, result["spill_cpu_s"] = await until_quiet()
                    result["process"] = proc
                    solo.setdefault(mode + (BASE if base else ""), []).append(result)
                print(f"process {proc + 1}/{args.processes}: round {rnd + 1}/{args.rounds} "
                      "done", file=sys.stderr)
        finally:
            assert worker.proc.stdin is not None
            worker.proc.stdin.write(b"quit\n")
            await worker.proc.stdin.drain()
            try:
                await asyncio.wait_for(worker.proc.wait(), 15)
            except TimeoutError:
                worker.proc.kill()
                await worker.proc.wait()
    return {"solo": solo, "pairs": {}}


def per_process(runs: list[dict[str, float]], base: list[dict[str, float]]) -> list[float]:
    """The median paired req/s ratio of each worker process (rounds carry ``process``)."""
    by: dict[int, list[float]] = {}
    for r, b in zip(runs, base, strict=True):
        by.setdefault(int(r["process"]), []).append(r["rps"] / b["rps"])
    return [median(v) for _, v in sorted(by.items())]


def spread(runs: list[dict[str, float]], base: list[dict[str, float]]) -> tuple[float, float]:
    """The spread of the paired log ratios (req/s against the same process's ``off`` in
    the same round) within a worker process and between processes
    (:func:`harness.stats.spread_components`)."""
    by: dict[int, list[float]] = {}
    for r, b in zip(runs, base, strict=True):
        by.setdefault(int(r["process"]), []).append(math.log(r["rps"] / b["rps"]))
    return spread_components(list(by.values()))


def report(raw: dict[str, Any]) -> dict[str, Any]:
    solo, pairs = raw["solo"], raw["pairs"]
    base = solo["off"]
    base_rps = median([r["rps"] for r in base])
    base_cpu = median([r["cpu_ms_per_req"] for r in base])
    out: dict[str, Any] = {}
    print("Observability cost at 100 in flight (medians over rounds; ratios against 'off')")
    print(f"{'variant':<21} {'req/s':>6} {'x req/s':>8} {'paired':>7} {'CPU ms/req':>10} "
          f"{'x CPU':>6} {'paired':>7} {'p50 ms':>7} {'h2h x done':>10} {'h2h x CPU':>9} "
          f"{'GC us/req':>9}")
    for name, runs in solo.items():
        # An interleaved baseline process's variants pair with its own 'off'.
        own_base = (solo.get(f"off{BASE}", solo["off"]) if name.endswith(BASE)
                    else solo["off"])
        rps = median([r["rps"] for r in runs])
        cpu = median([r["cpu_ms_per_req"] for r in runs])
        row: dict[str, Any] = {
            "rps": round(rps, 1), "rps_ratio": round(rps / base_rps, 3),
            "paired_rps_ratio": round(median(paired := [
                r["rps"] / b["rps"] for r, b in zip(runs, own_base, strict=True)]), 3),
            "paired_rps_interval": [round(v, 3) for v in median_interval(paired)],
            "cpu_ms_per_req": round(cpu, 3), "cpu_ratio": round(cpu / base_cpu, 3),
            "paired_cpu_ratio": round(median([r["cpu_ms_per_req"] / b["cpu_ms_per_req"]
                                              for r, b in zip(runs, own_base, strict=True)]), 3),
            "p50_ms": round(median([r["p50_ms"] for r in runs]), 2),
            "gc_us_per_req": round(median([r.get("gc_us_per_req", 0.0) for r in runs]), 1),
            "spill_cpu_s": round(median([r.get("spill_cpu_s", 0.0) for r in runs]), 3),
            "rounds_rps": [round(r["rps"], 1) for r in runs]}
        if name in pairs:
            done = [v["done"] / max(1, o["done"]) for o, v in pairs[name]]
            row["h2h_completions_ratio"] = round(median(done), 3)
            row["h2h_cpu_ratio"] = round(median([v["cpu_ms_per_req"] / o["cpu_ms_per_req"]
                                                 for o, v in pairs[name]]), 3)
            row["h2h_rounds"] = [round(d, 3) for d in done]
        if all("process" in r for r in runs):
            procs = per_process(runs, own_base)
            row["process_rps_ratios"] = [round(v, 3) for v in procs]
            row["process_rps_ratio"] = round(median(procs), 3)
            row["process_rps_interval"] = [round(v, 3) for v in median_interval(procs)]
            within, between = spread(runs, own_base)
            row["spread_within_process"] = round(within, 3)
            row["spread_between_processes"] = round(between, 3)
        out[name] = row
        print(f"{name:<21} {rps:>6.0f} {row['rps_ratio']:>8.3f} {row['paired_rps_ratio']:>7.3f} "
              f"{cpu:>10.3f} {row['cpu_ratio']:>6.3f} {row['paired_cpu_ratio']:>7.3f} "
              f"{row['p50_ms']:>7.1f} {row.get('h2h_completions_ratio', 1.0):>10.3f} "
              f"{row.get('h2h_cpu_ratio', 1.0):>9.3f} {row['gc_us_per_req']:>9.1f}")
    from obs_bench.alone import metrics_cost, tracing_cost

    alone = {"metrics": metrics_cost(), "tracing_100": tracing_cost(ratio=1.0),
             "tracing_1": tracing_cost(ratio=0.01)}
    out["alone"] = alone
    m, t, t1 = alone["metrics"], alone["tracing_100"], alone["tracing_1"]
    print(f"alone (no I/O): metrics {m['agent_us']} us/agent request + {m['requester_us']} "
          f"us/requester call + {m['transport_us']} us transport (2 publishes, 2 deliveries), "
          f"+ {m.get('process_us', 0.0)} us per request in the metrics process, "
          f"/metrics render {m['scrape_render_ms']} ms; tracing 100 %: "
          f"spans {t['spans_us']} us + OTLP encoding {t['encode_us']} us per request; "
          f"tracing 1 %: spans {t1['spans_us']} us; 'off' spends {base_cpu * 1000:.0f} us of "
          "CPU per request")
    own = {name: median([r["self_cpu_ms_per_req"] for r in runs])
           for name, runs in solo.items() if all("self_cpu_ms_per_req" in r for r in runs)}
    if "off" in own:
        def off_of(n: str) -> float:
            return own.get(f"off{BASE}", own["off"]) if n.endswith(BASE) else own["off"]

        out["self_cpu_ratio"] = {n: round(v / off_of(n), 3) for n, v in own.items()}
        print("CPU per request of the worker process alone (its children excluded), x off: "
              + ", ".join(f"{n} {v / off_of(n):.3f}" for n, v in own.items()))
    wait = {name: median([r.get("wait_us_per_req", 0.0) for r in runs])
            for name, runs in solo.items()}
    out["wait_us_per_req"] = {n: round(v, 1) for n, v in wait.items()}
    print("run-queue wait per request of the worker's event loop (runnable, a CPU held by "
          "other work), us: " + ", ".join(f"{n} {v:.0f}" for n, v in wait.items()))
    print("left behind by a solo window (busy CPU seconds of the machine until it was quiet "
          "again, median): " + ", ".join(f"{n} {out[n]['spill_cpu_s']:.2f}" for n in solo))
    print("targets at 100 in flight: metrics >= 0.95x off, tracing-100 >= 0.85x off")
    verdicts = {}
    for name, target in TARGETS.items():
        if name not in out:
            continue
        row = out[name]
        # Over processes when there are several: rounds of one process share its speed,
        # so they are not independent draws and their interval would be too narrow.
        procs = len(row.get("process_rps_ratios", ()))
        key, over = (("process_rps", f"{procs} processes (each the median of its rounds)")
                     if procs > 1 else ("paired_rps", f"{len(solo[name])} rounds"))
        low, high = row[f"{key}_interval"]
        verdicts[name] = verdict = ("undecided (too few)" if math.isnan(low)
                                    else "met" if low >= target
                                    else "missed" if high < target else "undecided")
        if procs > 1:
            print(f"  {name}: per process x req/s "
                  + ", ".join(f"{v:.3f}" for v in row["process_rps_ratios"]))
        print(f"  {name}: paired x req/s {row[f'{key}_ratio']:.3f}, 95 % interval "
              f"of the median {low:.3f}-{high:.3f} over {over}: {verdict}")
    spreads = {n: (r["spread_within_process"], r["spread_between_processes"])
               for n, r in out.items() if isinstance(r, dict) and "spread_within_process" in r
               and n not in {"off", f"off{BASE}"}}
    if spreads:
        # Planning the next run: rounds average out the first, only processes the second.
        print("spread of a round's log ratio (sd): "
              + ", ".join(f"{n} {w:.3f} within a process, {b:.3f} between processes"
                          for n, (w, b) in spreads.items()))
    for name in TARGETS:  # an interleaved baseline: figures, no verdict
        row = out.get(f"{name}{BASE}", {})
        if "process_rps_ratios" in row:
            low, high = row["process_rps_interval"]
            print(f"  {name}{BASE}: per process x req/s "
                  + ", ".join(f"{v:.3f}" for v in row["process_rps_ratios"])
                  + f"; median {row['process_rps_ratio']:.3f}, interval {low:.3f}-{high:.3f}")
    out["verdicts"] = verdicts
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with stage("a2a-mqtt-obsbench-") as (broker, sink, _tmp):
        raw = await (measure_interleaved if args.interleaved else measure)(args, broker, sink)
    return report(raw)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--solo", type=float, default=3.0,
                        help="Seconds each variant runs alone per round.")
    parser.add_argument("--head-to-head", type=float, default=5.0,
                        help="Seconds of each simultaneous off-vs-variant round.")
    parser.add_argument("--baseline", type=Path, default=None, metavar="SRC",
                        help="Also run --baseline-variants with a2a_mqtt imported from SRC "
                             "(an older tree's src/, e.g. from git archive): before/after "
                             "in one run, head to head.")
    parser.add_argument("--baseline-variants", default="tracing-100",
                        help="Comma-separated variants to run from --baseline.")
    parser.add_argument("--variants", default=None,
                        help="Comma-separated variants to run beside 'off' (default: all).")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--interleaved", action="store_true",
                        help="off, metrics, tracing-100 and tracing-1 in one worker process, "
                             "windows interleaved (obs_bench.worker.serve_mixed); no head "
                             "to head.")
    parser.add_argument("--processes", type=int, default=1,
                        help="With --interleaved: this many worker processes one after "
                             "another, --rounds rounds each; the verdict is then over "
                             "processes.")
    parser.add_argument("--service-loop", action="store_true",
                        help="Run each worker as the a2a-mqtt services run (a2a_mqtt._loop.run: "
                             "uvloop when installed, the tuned garbage collector) instead "
                             "of plain asyncio.run with Python's default collector.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--broker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sink", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    ns = parser.parse_args()
    if ns.quick:
        ns.rounds, ns.solo, ns.head_to_head = 1, 1.0, 1.0
    if ns.worker is not None:
        from obs_bench.worker import serve, serve_mixed

        served = (serve_mixed(ns.broker, ns.sink) if ns.worker == MIXED_WORKER
                  else serve(ns.worker, ns.broker, ns.sink))
        if ns.service_loop:
            from a2a_mqtt._loop import run

            run(served)
        else:
            asyncio.run(served)
        sys.exit(0)
    figures = asyncio.run(main(ns))
    if ns.json is not None:
        ns.json.write_text(json.dumps(figures, indent=2))
