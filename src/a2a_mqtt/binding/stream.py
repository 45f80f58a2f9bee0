"""Stream rules and task-id rules of the binding, as pure functions, and the
requester's source of new Task.ids (time-ordered UUIDv7s, :class:`Uuid7Source`).

End of stream (docs/binding.md §6.4): the last reply of a correlation carries
the User Property ``a2a-stream-end=true``. Peers of the v0.1 profile do not
send it, so a requester also ends a stream on the profile's implicit rule: a
status (or task) in a terminal or interrupted state, a ``message`` result, or
a JSON-RPC error.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any, Final

from a2a.types.a2a_pb2 import TaskState

__all__ = [
    "FINAL_STATES",
    "INTERRUPTED_STATES",
    "TERMINAL_STATES",
    "Uuid7Source",
    "is_final_result",
    "is_terminal_result",
    "is_valid_task_id",
    "new_context_id",
    "new_task_id",
    "state_name",
]

TERMINAL_STATES: Final = frozenset({
    "TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED",
})
INTERRUPTED_STATES: Final = frozenset({"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"})
FINAL_STATES: Final = TERMINAL_STATES | INTERRUPTED_STATES

_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12}")


def state_name(state: int) -> str:
    """The ProtoJSON name of a TaskState number."""
    return TaskState.Name(state)


def _state_text(value: Any) -> Any:
    # ProtoJSON readers accept an enum's number as well as its name.
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return TaskState.Name(value)
        except ValueError:
            return None
    return value if isinstance(value, str) else None  # lists and dicts are unhashable


def _ends(result: Any, states: frozenset[str]) -> bool:
    if not isinstance(result, dict):
        return True
    if "message" in result:
        return True
    for key in ("statusUpdate", "task"):
        item = result.get(key)
        if isinstance(item, dict):
            status = item.get("status")
            if isinstance(status, dict) and _state_text(status.get("state")) in states:
                return True
    return False


def is_terminal_result(result: Any) -> bool:
    """True if a StreamResponse JSON result carries a terminal task state or a message.

    A SubscribeToTask stream ends only there: an input-required task stays
    subscribed until it finishes (A2A 1.0; a2a-sdk behaves so).
    """
    return _ends(result, TERMINAL_STATES)


def is_final_result(result: Any) -> bool:
    """True if a StreamResponse (or SendMessageResponse) JSON result ends its stream."""
    return _ends(result, FINAL_STATES)


def is_valid_task_id(value: str) -> bool:
    """A requester-generated Task.id must be a UUID in canonical text form, of any
    version and case: this binding's requesters send UUIDv7s (:func:`new_task_id`),
    other requesters often random UUIDv4s."""
    return bool(_UUID.fullmatch(value))


_NS_PER_MS: Final = 1_000_000
_RAND_B: Final = (1 << 62) - 1
_VARIANT_BITS: Final = 2 << 62


class Uuid7Source:
    """Makes UUIDv7s (RFC 9562 §5.7) in canonical lower-case text, each greater than the last.

    The first 48 bits are ``clock()`` (Unix time in nanoseconds) in milliseconds, the 12
    bits after the version nibble the fraction of that millisecond (RFC 9562 §6.2, method
    3: ~244 ns steps), the 62 bits after the variant bits random (``entropy(8)``).
    Invariant: every id is greater, as text too (fixed-width lower-case hex), than the one
    this source made before it: a stamp (time and fraction, 60 bits) not above the last
    one becomes the last one plus one, so ids made within one step, or while the clock
    stepped back, still increase; the stamp then runs ahead of the clock by one step per
    such id, never behind it. Not locked: from several threads the ids stay distinct
    (random bits) but only each thread's own order is kept approximately.

    Why time-ordered: a database index on these ids takes each new one at its right-most
    leaf, where the ids before it went, instead of at a random leaf (docs/binding.md
    §6.2; docs/performance.md, "Round 6"). An id reveals the millisecond it was made in,
    as the task's own timestamps do.
    """

    __slots__ = ("clock", "entropy", "last")

    def __init__(self, *, clock: Callable[[], int] = time.time_ns,
                 entropy: Callable[[int], bytes] = os.urandom) -> None:
        self.clock = clock
        self.entropy = entropy
        self.last = -1  # below any stamp

    def __call__(self) -> str:
        ns = self.clock()
        stamp = (ns // _NS_PER_MS) << 12 | (ns % _NS_PER_MS) * 4096 // _NS_PER_MS
        if stamp <= self.last:
            stamp = self.last + 1
        self.last = stamp
        rand = int.from_bytes(self.entropy(8), "big") & _RAND_B | _VARIANT_BITS
        h = f"{stamp >> 12:012x}7{stamp & 0xFFF:03x}{rand:016x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_uuid7_text: Final = Uuid7Source()


def new_task_id() -> str:
    """A fresh requester-generated Task.id: a time-ordered UUIDv7 (docs/binding.md §6.2)."""
    return _uuid7_text()


def new_context_id() -> str:
    """A fresh requester-generated contextId: a time-ordered UUIDv7."""
    return _uuid7_text()
