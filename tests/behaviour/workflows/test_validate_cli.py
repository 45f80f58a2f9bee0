"""``a2a-mqtt workflow validate``: the graph for a good file, the line and reason for a bad one."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

EXAMPLE = Path(str(resources.files("a2a_mqtt.examples").joinpath("production_line.yaml")))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "a2a_mqtt", "workflow", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_production_line_validates_and_draws_its_graph() -> None:
    result = cli("validate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "workflow production-line (version 1)"
    assert any(line.startswith("  - quality: agent skill=disposition") for line in lines)
    assert any("confirm_rework: hold" in line and "when equals" in line for line in lines)


def test_json_output_lists_steps_in_run_order() -> None:
    result = cli("validate", "--json", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["valid"] is True
    assert doc["order"].index("quality") > doc["order"].index("inspect_side")
    supply = next(step for step in doc["steps"] if step["name"] == "supply")
    assert supply["onFailure"] == "supply_manual"
    assert supply["agent"] == {"ref": None, "skill": None, "tag": "supply-chain", "spawn": None}


def test_a_cyclic_file_is_refused_with_the_line_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "cycle.yaml"
    bad.write_text("name: w\nsteps:\n  a:\n    hold: x\n    needs: [b]\n"
                   "  b:\n    hold: y\n    needs: [a]\noutput: done\n")
    result = cli("validate", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{bad}:5: steps.a.needs: cycle in needs: a -> b -> a" in result.stderr
    result = cli("validate", "--json", str(bad))
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc == {"valid": False, "file": str(bad), "line": 5, "path": "steps.a.needs",
                   "reason": "cycle in needs: a -> b -> a"}


def test_an_unreadable_file_exits_non_zero(tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_the_graph_in_docs_is_what_the_command_prints() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "workflows.md").read_text()
    block = docs.split("$ a2a-mqtt workflow validate src/a2a_mqtt/examples/production_line.yaml\n",
                       1)[1].split("$ ", 1)[0]
    result = cli("validate", str(EXAMPLE))
    assert result.stdout == block
