"""py-spy of one member: where its event loop spends its CPU, by category."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

# ===================================================================================
# py-spy: where a member's event loop spends its CPU
# ===================================================================================

SPY_CATEGORIES = (
    # SQLAlchemy's asyncio layer runs each statement in a greenlet whose stack py-spy
    # sees without its async caller, so DB work is one category, not per caller.
    (
        "database (SQLAlchemy + driver, incl. claims and in-flight log)",
        (
            "/sqlalchemy/",
            "/aiosqlite/",
            "/asyncpg/",
            "/greenlet/",
            "/a2a_mqtt/server/claims.py",
            "/a2a_mqtt/server/inflight.py",
            "/a2a/server/cluster/",
            "/a2a/server/tasks/database",
        ),
    ),
    ("a2a-sdk handler (task manager, active task, queues)", ("/a2a/",)),
    ("MQTT transport (a2a_mqtt.transport + paho)", ("/a2a_mqtt/transport/", "/paho/")),
    ("a2a_mqtt binding/server/client (+ protobuf JSON)", ("/a2a_mqtt/", "/google/protobuf/")),
)


def _spy_category(frames: list[str]) -> str:
    for name, needles in SPY_CATEGORIES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    return "event loop and other"


def spy_breakdown(path: Path, rate: int, requests: int) -> dict[str, Any]:
    """Event-loop-thread samples by category; worker threads (aiosqlite) apart.

    py-spy samples wall-clock time of non-idle threads: a thread that is runnable
    but waiting for a CPU is sampled too, so read shares, not absolute times.
    """
    loop_cats: dict[str, int] = defaultdict(int)
    threads = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        leaf = frames[-1]
        if (
            ("select (" in leaf and "selectors.py" in leaf)
            or "_do_waitpid (" in leaf
            or ("wait (" in leaf and "threading.py" in leaf)
        ):
            idle += count
            continue
        head = stack.split(";", 1)[0]
        if "MainThread" not in head and not frames[0].startswith("<module> ("):
            threads += count  # aiosqlite's connection threads (SQLite itself runs there)
            continue
        loop_cats[_spy_category(frames[1:] if "MainThread" in head else frames)] += count
    total = sum(loop_cats.values())
    ms = 1000 / rate / requests if requests else math.nan
    return {
        "rate_hz": rate,
        "loop_samples": total,
        "loop_ms_per_request": total * ms,
        "worker_threads_ms_per_request": threads * ms,
        "by_category": {
            k: {"ms_per_request": v * ms, "percent": 100 * v / total}
            for k, v in sorted(loop_cats.items(), key=lambda kv: -kv[1])
            if total
        },
    }


# ===================================================================================
# Driver and report
# ===================================================================================
