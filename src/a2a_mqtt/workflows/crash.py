"""TEST-ONLY crash points: ``A2A_MQTT_WF_CRASH_AT=POINT[:STEP]`` kills the supervisor there.

The behaviour tests (tests/behaviour/workflows/test_supervisor_crash.py) set this
in ONE supervisor subprocess to prove recovery at each point between deciding,
recording and publishing a step. ``os._exit(137)`` stands in for ``kill -9``: no
cleanup, no DISCONNECT (so the broker fires the Last Will), no flush. Never set it
in production. Points:

- ``before_record``: a dispatch is decided, nothing is recorded;
- ``after_record``: ``AttemptDispatched`` is committed, the request is not published;
- ``after_publish``: the agent has the request (its first stream item arrived);
- ``after_result``: the agent's final answer arrived, it is not recorded yet.

With ``A2A_MQTT_WF_CRASH_ONCE=FILE`` as well, only the first process to reach the
point crashes (it creates FILE; the others find it and go on), so every
supervisor of a test can carry the variable and whichever owns the run dies.
"""

from __future__ import annotations

import os
import sys

__all__ = ["POINTS", "crash_point"]

POINTS = ("before_record", "after_record", "after_publish", "after_result")
_ENV = "A2A_MQTT_WF_CRASH_AT"
_ONCE = "A2A_MQTT_WF_CRASH_ONCE"


def crash_point(point: str, step: str) -> None:
    """Exit the process at once if the test-only variable names this point (and step)."""
    wanted = os.environ.get(_ENV)
    if not wanted:
        return
    name, _, only = wanted.partition(":")
    if name == point and (not only or only == step):
        once = os.environ.get(_ONCE)
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                return
        sys.stderr.write(f"{_ENV}: crashing at {point} (step {step})\n")
        sys.stderr.flush()
        os._exit(137)
