"""Constants of the A2A comparison and the a2a-sdk spans setting the user started with."""

from __future__ import annotations

import logging
import os
from pathlib import Path

#: a2a-sdk wraps its handler methods in OpenTelemetry spans unless this is "false",
#: read once when a2a-sdk is first imported. An a2a-mqtt process sets it to "false"
#: (setdefault, a2a_mqtt/telemetry.py) at start-up; the user's own value is kept here
#: (this module is imported by bench/a2a_compare.py before that decision).
OTEL_VAR = "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"
USER_OTEL = os.environ.get(OTEL_VAR)

#: The entry script: the server children are it, re-invoked with ``--serve``.
HERE = Path(__file__).resolve().parents[1]
SCRIPT = HERE / "a2a_compare.py"
RESULTS_DIR = HERE / "results"
ORG, UNIT = "bench", "a2a"
VARIANTS = ("ours", "ours-sdk", "http", "http-aiohttp", "emqx", "emqx-mc100", "floor")
SCENARIOS = (("sequential", 1), ("10 in flight", 10), ("100 in flight", 100))
REQUEST_TIMEOUT = 30.0
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

log = logging.getLogger("bench.a2a_compare")

#: Extra environment for the server processes (``--server-env KEY=VALUE``).
SERVER_ENV: dict[str, str] = {}
