"""A supervisor's poll: one read per ``poll_interval`` for all the runs it drives.

What other supervisors write to a run (a caller's reply taken by another one, a new
stream) reaches its owner by a nudge or, if the nudge is lost, by this poll. The
poll reads every driven run's last log position and stream target in one statement
and wakes only the drivers that are behind; it used to be one read per run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from a2a.types.a2a_pb2 import TaskState
from sqlalchemy import event

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.workflows.state import InputProvided
from tests.behaviour.workflows.support import call, supervisor

pytestmark = pytest.mark.asyncio

HELD = """
name: held
steps:
  wait:
    hold: "say when"
output:
  text: "${steps.wait.output.text}"
"""
POLL = 0.05
WINDOW = 1.0
RUNS = 3


async def test_one_read_per_poll_for_every_run_and_inputs_still_arrive(
        broker: MosquittoProcess, run_db: str, mqtt: A2AMqttClient) -> None:
    # A long lease: its loop (every TTL/3) stays out of the window.
    async with supervisor(broker.url, run_db, HELD, poll_interval=POLL, lease_ttl=30.0) as sup:
        client = await mqtt.connect("wf/test/held", timeout=5)
        held = [await call(client, {}) for _ in range(RUNS)]
        assert all(o.state == TaskState.TASK_STATE_INPUT_REQUIRED for o in held)
        assert len(sup.drivers) == RUNS
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(sup.engine.sync_engine, "before_cursor_execute", count)
        try:
            await asyncio.sleep(WINDOW)  # a measurement window, not a synchronisation
        finally:
            event.remove(sup.engine.sync_engine, "before_cursor_execute", count)
        reads = [s for s in statements if "workflow_event" in s]
        # One per poll (WINDOW / POLL of them): a read per run would be RUNS times that.
        assert 0 < len(reads) <= WINDOW / POLL + 5, len(reads)

        # An input appended with no nudge (as a supervisor whose nudge was lost): the
        # poll wakes the owner, which folds it and finishes the run.
        first = held[0].task_id
        await sup.leases.append_input(first, InputProvided("wait", (("text", "now"),),
                                                           time.time()))
        for _ in range(250):
            row = await sup.store.run_row(first)
            if row.status == "completed":
                break
            await asyncio.sleep(0.02)
        assert row.status == "completed"
        state = await sup.store.load(first, sup.workflows["held"])
        assert state.output == (("text", "now"),)
