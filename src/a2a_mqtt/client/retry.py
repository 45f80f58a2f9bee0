"""The requester's retry profile as pure functions: backoff, jitter and the overload hint.

A saturated responder answers -32004 ``responder_unavailable`` with a
``retry-after`` User Property: decimal seconds to wait before trying again
(docs/binding.md §6.5, §6.6). The requester waits at least that long, plus up
to ``jitter`` of it more so that requesters turned away together do not all
come back in the same instant, but never longer than its own bound: a hint
above the bound is surfaced to the caller instead of blocking the call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Final

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.codes import ResponderUnavailableError

__all__ = ["RETRY_AFTER", "OverloadedError", "backoff_delay", "overload_delay",
           "parse_retry_after"]

RETRY_AFTER: Final = P.RETRY_AFTER
"""User Property on a -32004 reply: seconds (decimal) the requester should wait."""

# Plain decimals only: no sign, exponent, NaN or infinity, at most a day.
_DECIMAL: Final = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,6})?")
_MAX_HINT: Final = 86_400.0


class OverloadedError(ResponderUnavailableError):
    """The responder is saturated and said when to come back (``retry_after`` seconds)."""

    message = "Responder overloaded"

    def __init__(self, message: str | None = None, data: dict[str, Any] | None = None, *,
                 retry_after: float) -> None:
        super().__init__(message, data)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """The hint in seconds, or None when absent or not a plain non-negative decimal."""
    if value is None:
        return None
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    seconds = float(text)
    return seconds if math.isfinite(seconds) and seconds <= _MAX_HINT else None


def backoff_delay(backoff: Sequence[float], attempt: int, jitter: float, rand: float) -> float:
    """Delay before retry ``attempt + 1`` (0-based ``attempt``): the profile's table,
    its last value repeating, with ±``jitter`` uniform spread (``rand`` in [0, 1))."""
    base = backoff[min(attempt, len(backoff) - 1)]
    return max(0.0, base * (1 + jitter * (2 * rand - 1)))


def overload_delay(hint: float, *, limit: float, jitter: float, rand: float) -> float | None:
    """How long to wait on a ``retry-after`` of ``hint`` seconds, or None when the
    hint exceeds ``limit`` (the caller surfaces the error rather than wait that long).

    Never sooner than asked; the jitter only adds, and the result never exceeds ``limit``.
    """
    if hint > limit:
        return None
    return min(limit, hint * (1 + jitter * rand))
