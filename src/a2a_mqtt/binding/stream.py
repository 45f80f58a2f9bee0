"""Stream rules and task-id rules of the binding, as pure functions.

End of stream (docs/binding.md §6.4): the last reply of a correlation carries
the User Property ``a2a-stream-end=true``. Peers of the v0.1 profile do not
send it, so a requester also ends a stream on the profile's implicit rule: a
status (or task) in a terminal or interrupted state, a ``message`` result, or
a JSON-RPC error.
"""

from __future__ import annotations

import os
import re
from typing import Any, Final

from a2a.types.a2a_pb2 import TaskState

__all__ = [
    "FINAL_STATES",
    "INTERRUPTED_STATES",
    "TERMINAL_STATES",
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
    """A requester-generated Task.id must be a UUID in canonical text form."""
    return bool(_UUID.fullmatch(value))


def _uuid4_text() -> str:
    """``str(uuid.uuid4())`` without the UUID object (a fifth of the time; two per
    SendMessage): 122 random bits from ``os.urandom``, the version nibble 4 and the
    RFC 4122 variant bits, in canonical lower-case text."""
    h = os.urandom(16).hex()
    return (f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-"
            f"{h[20:]}")


_VARIANT: Final = "89ab"


def new_task_id() -> str:
    """A fresh requester-generated Task.id (UUIDv4)."""
    return _uuid4_text()


def new_context_id() -> str:
    """A fresh requester-generated contextId (UUIDv4)."""
    return _uuid4_text()
