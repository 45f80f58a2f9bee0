"""Agents for ephemeral-worker tests, imported by the worker subprocesses (``module:factory``).

``stalling``: the first attempt writes its PID to ``$EPHEMERAL_TEST_DIR/pid`` and
never finishes (the test kills it); later attempts answer at once. The marker file
makes "first" hold across processes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import Part

from a2a_mqtt.examples.basic import (
    CancellableExecutor,
    GreeterExecutor,
    _updater,
    echo_card,
    greeter_card,
)
from a2a_mqtt.workflows.ephemeral import WorkerAgent


class Stalling(CancellableExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        await updater.start_work(updater.new_agent_message([Part(text="working")]))
        directory = Path(os.environ["EPHEMERAL_TEST_DIR"])
        marker = directory / "first-attempt"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            (directory / "pid").write_text(str(os.getpid()))
            await asyncio.Event().wait()  # killed here
        with (directory / "effects").open("a") as log:
            log.write(f"{context.task_id}\n")
        await updater.add_artifact([Part(text=f"done by {os.getpid()}")], name="result")
        await updater.complete()


def stalling() -> WorkerAgent:
    return WorkerAgent(card=echo_card(), executor=Stalling())


def not_an_agent() -> object:
    return 42


def greeter() -> WorkerAgent:
    """Two turns: input-required, then the greeting (the worker must outlive the first)."""
    return WorkerAgent(card=greeter_card(), executor=GreeterExecutor())
