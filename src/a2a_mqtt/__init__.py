"""a2a-mqtt: A2A (Agent2Agent) over MQTT 5, plugged into the official a2a-sdk."""

import os as _os

# a2a-sdk wraps every handler method in an OpenTelemetry span whenever the
# OpenTelemetry API is importable, which doubles the CPU cost of a request even
# with no tracer configured. Off unless the user asks for it; this must run
# before a2a-sdk is first imported (docs/performance.md).
_A2A_SPANS_REQUESTED = "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED" in _os.environ
_os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from a2a_mqtt._version import __version__  # noqa: E402 - after the environment default

__all__ = ["__version__"]
