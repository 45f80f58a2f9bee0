"""Telemetry decisions, in one place: today, whether a2a-sdk's own spans run.

a2a-sdk wraps every request-handler, queue and task-manager method in an
OpenTelemetry span whenever the OpenTelemetry API is importable (it always is:
``mcp`` and ``google-api-core`` depend on it), which roughly doubles the CPU of
a request even with no tracer configured (docs/performance.md). Its only switch
is the ``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED`` variable, read once when
a2a-sdk is first imported.

So the decision belongs to process start-up, not to ``import a2a_mqtt``
(which changes nothing in ``os.environ``): the ``a2a-mqtt`` command calls
:func:`prefer_a2a_sdk_spans_off` before it imports a2a-sdk; an application
embedding a2a-mqtt sets the variable itself (or calls that function first
thing), and :func:`warn_if_a2a_sdk_spans_on` tells it at agent start when it
did neither. With a2a-mqtt's own tracing on (a2a_mqtt.observability.tracing) they
stay off too: ours cover every hop, theirs multiply the CPU per request by ~2.7
(docs/observability.md, "a2a-sdk's own spans"); turned on by the variable, they join
the same trace below our SERVER span.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Final

__all__ = ["A2A_SDK_SPANS_VAR", "a2a_sdk_spans_on", "prefer_a2a_sdk_spans_off",
           "warn_if_a2a_sdk_spans_on"]

A2A_SDK_SPANS_VAR: Final = "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"

log = logging.getLogger("a2a_mqtt.telemetry")
_warned = False


def prefer_a2a_sdk_spans_off(environ: MutableMapping[str, str] | None = None) -> bool:
    """Turn a2a-sdk's spans off unless the user chose (the variable is set). Call it
    before a2a-sdk is imported; returns whether it could still take effect."""
    env = os.environ if environ is None else environ
    env.setdefault(A2A_SDK_SPANS_VAR, "false")
    return "a2a.utils.telemetry" not in sys.modules


def a2a_sdk_spans_on() -> bool:
    """Whether a2a-sdk's per-method spans are active in this process."""
    from a2a.utils import telemetry  # noqa: PLC0415 - only when asked

    return bool(telemetry.otel_installed and telemetry.otel_enabled)


def warn_if_a2a_sdk_spans_on() -> None:
    """Once per process: say so when a2a-sdk's spans run although nobody chose them."""
    global _warned  # noqa: PLW0603 - one warning per process
    if _warned or A2A_SDK_SPANS_VAR in os.environ or not a2a_sdk_spans_on():
        return
    _warned = True
    log.warning("a2a-sdk's per-method OpenTelemetry spans are on and roughly double the CPU "
                "per request; set %s=false before a2a-sdk is imported to turn them off "
                "(the a2a-mqtt command does), or =true to keep them", A2A_SDK_SPANS_VAR)
