"""Benches cannot rot: every bench script answers ``--help``, and the ones a doc quotes
figures from run their tiniest configuration end to end (real brokers, real agents,
real child processes) and write a result that holds what the report claims.

Speed is not judged here (that is what the benches are for): only that they run,
answer every request and report every variant.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
#: Every script with a command line (the rest are shims and libraries).
SCRIPTS = sorted(
    p for p in BENCH.glob("*.py") if 'if __name__ == "__main__"' in p.read_text()
)
#: Run end to end below: no need to ask them for --help as well.
RUN_BELOW = {
    "a2a_compare.py", "pool_scaling.py", "mqtt_clients.py", "security_cost.py",
    "payload_size.py", "store_turns.py", "gateway_compare.py", "observability_cost.py",
}


def run(*argv: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_every_bench_answers_help() -> None:
    assert len(SCRIPTS) >= 12  # a bench that stopped being a script is noticed
    # All at once: each is mostly an import; a serial loop would double the test's time.
    procs = {
        p.name: subprocess.Popen(
            [sys.executable, str(p), "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in SCRIPTS
        if p.name not in RUN_BELOW
    }
    failed = {}
    deadline = time.monotonic() + 60
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        if proc.returncode != 0 or "usage:" not in out:
            failed[name] = err[-1000:]
    assert not failed


def _rows(path: Path) -> Any:
    return json.loads(path.read_text())


def test_a2a_compare_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "a2a.json"
    run(str(BENCH / "a2a_compare.py"), "--variants", "ours", "ours-sdk", "floor",
        "--runs", "1", "--seq-n", "20", "--conc-n", "40", "--warmup", "5", "--profile-n", "0",
        "--micro-n", "0", "--json", str(out))
    medians = _rows(out)["medians"]
    assert {(r["variant"], r["scenario"]) for r in medians} == {
        (v, s) for v in ("ours", "ours-sdk", "floor")
        for s in ("sequential", "10 in flight", "100 in flight")
    }
    assert all(r["errors"] == 0 and r["n"] > 0 and r["rps"] > 0 for r in medians)
    assert _rows(out)["ratios"]["req/s sequential: ours / floor"] > 0


def test_a2a_compare_profile_under_load_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "prof.json"
    run(str(BENCH / "a2a_compare.py"), "--profile-only", "--profile-n", "30",
        "--profile-inflight", "10", "--profiler", "cprofile", "--warmup", "5", "--micro-n", "0",
        "--json", str(out))
    prof = _rows(out)["profile"]
    assert prof["inflight"] == 10 and prof["n"] == 30
    assert prof["server"]["busy_us_per_request"] > 0


def test_pool_scaling_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "pool.json"
    run(str(BENCH / "pool_scaling.py"), "--runs", "1", "--requests", "12", "--warmup", "2",
        "--inflight", "10", "--configs", "single,pool-1", "--stores", "sqlite", "--no-spy",
        "--delay", "0.01", "--json", str(out))
    data = _rows(out)
    rows = [r for r in data["medians"] if r["store"] == "sqlite"]
    assert {r["config"] for r in rows} == {"single", "pool-1"}
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in rows)


def test_mqtt_clients_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "mqtt.json"
    run(str(BENCH / "mqtt_clients.py"), "--runs", "1", "--seq-n", "20", "--conc-n", "40",
        "--warmup", "5", "--variants", "ours", "--json", str(out))
    data = _rows(out)
    assert data
    assert "ours" in json.dumps(data)


def test_security_cost_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "sec.json"
    run(str(BENCH / "security_cost.py"), "--runs", "1", "--sequential", "10",
        "--parallel", "20", "--variants", "plain", "tls+acl", "ubsp-v1", "--json", str(out))
    data = _rows(out)
    assert set(data) == {"plain", "tls+acl", "ubsp-v1"}
    for cells in data.values():
        assert cells["1"]["errors"] == cells["100"]["errors"] == 0
        assert cells["1"]["rps"] > 0
    assert data["plain"]["1"]["p50_ratio"] == pytest.approx(1.0)


def test_payload_size_tiniest(tmp_path: Path) -> None:
    """The docs' example bench: the short file keeps working."""
    out = tmp_path / "size.json"
    run(str(BENCH / "payload_size.py"), "--runs", "1", "-n", "10", "--json", str(out))
    rows = _rows(out)["medians"]
    assert [(r["in flight"], r["size"]) for r in rows] == [
        (k, s) for k in (1, 10) for s in ("100 B", "10 kB", "100 kB")
    ]
    assert all(r["errors"] == 0 and r["rps"] > 0 and r["runs"] == 1 for r in rows)


def test_workers_scaling_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "workers.json"
    variants = ["1 process", "2 workers", "2 workers (claim)", "2 separate agents"]
    # Enough requests that every agent process uses CPU clock ticks (10 ms each) in the
    # window: with 20, one of two separate agents could read none, and give no ceiling.
    run(str(BENCH / "workers_scaling.py"), "--runs", "1", "-n", "400", "--inflight", "10",
        "--variants", *variants, "--json", str(out))
    rows = _rows(out)["medians"]
    assert [r["variant"] for r in rows] == variants
    assert all(r["errors"] == 0 and r["rps"] > 0 and r["ceiling_rps"] > 0 for r in rows)
    assert rows[0]["paired"] == 1.0
    separate = next(r for r in _rows(out)["runs"] if r["variant"] == "2 separate agents")
    assert sorted(separate["per_process"]) == ["agent0", "agent1", "broker", "client"]


def test_store_turns_tiniest() -> None:
    done = run(str(BENCH / "store_turns.py"), "--runs", "1", "--turns", "200",
               "--inflight", "20", "--variants", "sqlite")
    median = next(line for line in done.stdout.splitlines() if line.startswith("median sqlite"))
    fields = median.split()
    assert float(fields[fields.index("turns/s") + 1]) > 0
    assert float(fields[fields.index("statements/batch") + 1]) > 0


def test_gateway_compare_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    run(str(BENCH / "gateway_compare.py"), "--runs", "1", "--seq-n", "20", "--conc-n", "200",
        "--warmup", "10", "--slices", "2", "--json", str(out))
    rows = _rows(out)["medians"]
    assert {(r["path"], r["scenario"]) for r in rows} == {
        (path, scenario) for path in ("direct", "gateway")
        for scenario in ("1 in flight", "100 in flight")}
    assert all(r["errors"] == 0 and r["rps"] > 0 for r in rows)


def test_observability_cost_interleaved_tiniest(tmp_path: Path) -> None:
    out = tmp_path / "obs.json"
    run(str(BENCH / "observability_cost.py"), "--interleaved", "--rounds", "6", "--solo",
        "0.3", "--json", str(out), timeout=240)
    result: dict[str, Any] = json.loads(out.read_text())
    for mode in ("off", "metrics", "tracing-100", "tracing-1"):
        assert len(result[mode]["rounds_rps"]) == 6
        assert min(result[mode]["rounds_rps"]) > 0
    for name in ("metrics", "tracing-100"):
        low, high = result[name]["paired_rps_interval"]
        assert low <= result[name]["paired_rps_ratio"] <= high
        assert result["verdicts"][name] in {"met", "missed", "undecided"}
