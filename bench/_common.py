"""Shared pieces of the A2A benchmarks: the one trivial executor and its card.

Every A2A variant in ``bench/a2a_compare.py`` runs exactly this work per
request, so the comparison measures the plumbing around it: the executor
enqueues the Task, adds one artifact holding the input text, and completes.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
from dataclasses import dataclass

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part

__all__ = [
    "BENCH_TEXT",
    "BenchExecutor",
    "Stats",
    "bench_card",
    "percentile",
    "proc_cpu_seconds",
    "summarize",
]

#: The user text of every request (~100 B); the artifact echoes it.
BENCH_TEXT = "benchmark payload: hello over A2A, the same trivial work on every transport!"


class BenchExecutor(AgentExecutor):
    """Task -> (optionally ``delay`` seconds of I/O-bound waiting) -> one artifact with
    the input text -> COMPLETED. No streaming status."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.executions = 0
        self.delay = delay

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.executions += 1
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        if self.delay:
            await asyncio.sleep(self.delay)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.add_artifact(
            [Part(text=context.get_user_input())], name="echo", last_chunk=True
        )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id and context.context_id:
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def bench_card(url: str = "", binding: str = "JSONRPC") -> AgentCard:
    """The benchmark agent's card; ``url`` set adds one interface (the HTTP server's)."""
    card = AgentCard(
        name="Bench echo",
        description="Echoes the input text as one artifact.",
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="echo", name="Echo", description="Returns the input text.", tags=["bench"]
            )
        ],
    )
    if url:
        card.supported_interfaces.append(
            AgentInterface(url=url, protocol_binding=binding, protocol_version="1.0")
        )
    return card


# -- statistics ---------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class Stats:
    n: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def summarize(latencies: list[float], seconds: float, errors: int = 0) -> Stats:
    ordered = sorted(latencies)
    return Stats(
        n=len(ordered),
        seconds=seconds,
        rps=len(ordered) / seconds if seconds > 0 else float("nan"),
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        errors=errors,
    )


def median(values: list[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process (Linux /proc; 10 ms resolution), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the comm field: state is [0]; utime, stime are fields 14, 15 -> [11], [12]
    return (int(fields[11]) + int(fields[12])) / _TICK
