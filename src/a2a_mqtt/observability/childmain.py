"""The start of a child process the service feeds through a pipe (span export, metrics).

Both children read their stdin until EOF and answer on stdout. They leave stopping
to their parent (an interrupt or a SIGTERM sent to the whole process group must not
end them before the parent has flushed them) and log in the parent's format, which the
parent hands over in ``A2A_MQTT_LOG_FORMAT`` (:func:`.childproc.log_format`). Only
standard-library imports here: each child imports what its own work needs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import IO

__all__ = ["run_child"]


def run_child(serve: Callable[[IO[bytes], IO[bytes]], int]) -> int:
    """Set the child up as above and serve the pipe; ``serve``'s exit status."""
    from a2a_mqtt.observability.logs import LOG_FORMATS, configure_logging  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fmt = os.environ.get("A2A_MQTT_LOG_FORMAT", "text")
    configure_logging(logging.WARNING, fmt if fmt in LOG_FORMATS else "text")  # type: ignore[arg-type]
    return serve(sys.stdin.buffer, sys.stdout.buffer)
