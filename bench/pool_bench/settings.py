"""Constants of the pool-scaling bench."""

from __future__ import annotations

import logging
from pathlib import Path

#: The entry script: members are it, re-invoked with ``--serve``.
SCRIPT = Path(__file__).resolve().parents[1] / "pool_scaling.py"
ROOT = SCRIPT.parents[1]
ORG, UNIT = "bench", "pool"
TEXT = "pool scaling payload: the same trivial echo on every member, after 50 ms of I/O"
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 90.0
CONFIGS = ("single", "pool-1", "pool-2", "pool-4", "rr-4", "single-mem")

log = logging.getLogger("bench.pool_scaling")
