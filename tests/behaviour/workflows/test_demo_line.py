"""The README demo runs the production line as a workflow (demo/line.py).

Real Mosquitto, the example agents with the inspector as a pool of two, the
workflow file shipped in the package, and the demo's operator answering the hold.
"""

from __future__ import annotations

import re

import pytest

from a2a_mqtt.demo import DemoConfig, run_demo

pytestmark = pytest.mark.asyncio


async def test_the_demo_runs_the_workflow_with_a_pool_and_a_rework_hold() -> None:
    lines: list[str] = []
    await run_demo(DemoConfig(parts=("P-1001", "P-1005")), out=lines.append)
    text = "\n".join(lines)
    assert "workflow  production-line: inspect_top -> inspect_side -> quality" in text
    # P-1001 passes: no hold; P-1005 needs rework: the operator is asked, then supply runs.
    assert "    result         completed  P-1001: PASS (within tolerances)" in text
    assert "    result         completed  P-1005: REWORK (scratch 0.65 mm exceeds 0.6 mm)" in text
    assert re.search(r"confirm_rework held +asks the operator: Part P-1005 on line1 needs "
                     r"rework", text), text
    assert re.search(r"confirm_rework completed +operator +approve", text), text
    assert text.count("confirm_rework skipped") == 1
    assert text.count("    supply         completed  factory/line1/supply-chain") == 2
    # Fan-out: two inspections per part, spread over the pool's two members.
    spread = re.search(r"spread the inspections: inspection (\d+), inspection-2 (\d+)$", text,
                       re.MULTILINE)
    assert spread is not None, text
    assert int(spread[1]) + int(spread[2]) == 4
    assert lines[-1] == "presence  5 of 5 agents now marked offline"
