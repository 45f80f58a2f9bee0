"""Faults under load, bounded: bench/faults_load.py with a few hundred requests.

The bench runs its own Mosquitto (persistence on) and the echo agent as a child
process with an execution log; a broker restart or a ``kill -9`` of the agent
(restarted at once on the same store) hits while 100 requests are in flight.
Every request must get exactly one outcome, a terminal task; no task may run
twice; no two replies for one task may disagree; the agent restarts after
``kill -9`` and logs no traceback. The long run (10,000 requests at 200 in
flight) is the bench's default; its figures are in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[3] / "bench" / "faults_load.py"


def run_bench(tmp_path: Path, store: str, fault: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / "faults.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "500", "--inflight", "100",
         "--stores", store, "--faults", fault, "--fault-at", "0.3", "--settle", "1",
         "--max-seconds", "120", "--json", str(out), *extra],
        capture_output=True, timeout=180, check=False)
    assert out.exists(), done.stderr.decode()[-3000:]
    [result] = json.loads(out.read_text())["results"]
    assert done.returncode == (0 if result["verdict"] == "PASS" else 1)
    return dict(result)


def check(r: dict[str, Any]) -> None:
    assert r["problems"] == [], r
    assert r["outcomes"] == r["requests"] == 500
    assert r["client_errors"] == {} and r["not_terminal"] == 0
    assert r["started_twice"] == r["done_twice"] == 0
    assert r["completed_without_execution"] == 0 and r["wire_contradictions"] == 0
    assert r["agent_tracebacks"] == 0
    assert r["fault_at_answered"] >= 150  # the fault hit mid-run, not after it
    assert set(r["states"]) <= {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}


@pytest.mark.parametrize("fault", ["broker", "kill"])
def test_faults_under_load_sqlite(tmp_path: Path, fault: str) -> None:
    # 0.1 s of executor work keeps turns inside the executor when the kill lands (with
    # near-instant turns a kill can fall between them, and then nothing is interrupted).
    r = run_bench(tmp_path, "sqlite", fault, "--delay", "0.1")
    check(r)
    if fault == "broker":
        # A broker restart loses no work: every task completes.
        assert r["states"] == {"TASK_STATE_COMPLETED": 500}
    else:
        assert r["agent_restarts"] == 1
        # The kill interrupted turns, and recovery failed each of them with one answer.
        assert r["interrupted"] + r["failed_after_execution"] >= 1
        assert r["states"].get("TASK_STATE_FAILED", 0) >= (
            r["interrupted"] + r["failed_after_execution"])


@pytest.mark.postgres
def test_faults_under_load_postgres_kill(tmp_path: Path, postgres_dsn: str) -> None:
    r = run_bench(tmp_path, "postgres", "kill", "--postgres", postgres_dsn)
    check(r)
    assert r["agent_restarts"] == 1
