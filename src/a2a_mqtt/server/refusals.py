"""Refused requests: counted every time, logged at a bounded rate.

A request whose Response Topic is missing or outside ``$a2a/v1/reply/`` is refused
without an answer (docs/binding.md §6.6). A hostile or broken client can send such
requests as fast as the broker lets it; one WARNING each would let it flood the
agent's logs. :class:`RefusalLog` decides which refusals are worth a line:

* the first refusal of each (requester, Response Topic) key is logged, up to
  ``burst`` new keys per ``interval`` seconds;
* everything else is suppressed and counted; the first refusal after an interval
  has elapsed reports that count in one summary line.

So an agent writes at most ``burst + 1`` refusal lines per interval whatever the
traffic, and the metric ``a2a_mqtt.server.refused`` counts every refusal.

Pure: no I/O, a caller-supplied clock, bounded memory (``max_keys`` remembered keys,
oldest forgotten first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

__all__ = ["REASONS", "RefusalLog", "Verdict", "refusal_reason"]

REASONS: Final = ("no_reply_topic", "reply_topic_outside", "reply_topic_invalid")
"""Every value of the ``a2a.reason`` attribute of ``a2a_mqtt.server.refused``."""


def refusal_reason(problem: str) -> str:
    """The metric reason (one of :data:`REASONS`) of a
    :func:`a2a_mqtt.binding.topics.reply_topic_problem` text: a bounded set, because
    the text itself may quote sizes and must not mint new series."""
    if problem.startswith("no Response Topic"):
        return "no_reply_topic"
    if "is not under" in problem:
        return "reply_topic_outside"
    return "reply_topic_invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to write for one refusal."""

    log: bool
    """Log this refusal (a new key within the interval's budget)."""
    suppressed: int
    """> 0: write a summary that this many refusals went unlogged since the last one."""


class RefusalLog:
    """Which refusals to log (see the module invariants)."""

    __slots__ = ("_budget", "_burst", "_clock", "_interval", "_max_keys", "_seen",
                 "_suppressed", "_window")

    def __init__(self, *, interval: float = 60.0, burst: int = 10, max_keys: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("interval, burst and max_keys must be positive")
        self._interval = interval
        self._burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self._budget = burst
        self._suppressed = 0
        self._window = clock()

    @property
    def suppressed(self) -> int:
        """Refusals not logged and not yet reported in a summary."""
        return self._suppressed

    def refuse(self, key: Hashable) -> Verdict:
        now = self._clock()
        due = 0
        if now - self._window >= self._interval:
            due, self._suppressed = self._suppressed, 0
            self._window = now
            self._budget = self._burst
        if key not in self._seen and self._budget > 0:
            self._budget -= 1
            self._seen[key] = None
            if len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)
            return Verdict(log=True, suppressed=due)
        self._suppressed += 1
        return Verdict(log=False, suppressed=due)
