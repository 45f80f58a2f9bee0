"""What an agent records per request, in the shape the dispatcher calls it.

One :class:`CallRecord` per request message: the dispatcher names the method once
parsed, reports every reply it sends (size, end marker, error code) and closes
the record when it is done with the message. The record turns that into the
``rpc.server.*`` instruments of :mod:`.names`. Every method is cheap (dict updates
on pre-built key tuples) except the histogram records at the first and the
terminal reply.

Invariants: each request is counted exactly once in ``rpc.server.requests`` (at
its end marker, or at close when it got none: outcome ``no_reply``); the first-reply
histogram holds streams only (a reply that is also the last is timed once, as the
terminal reply: two synchronous records per request cost measurable CPU); in-flight
goes up once when the method is known and down once at the same moment the
request is counted; the method attribute is one of :data:`METHODS` or ``other``
(the method name comes from the wire: it must not mint new series).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from a2a_mqtt.observability import names as N

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["METHODS", "AgentMetrics", "CallRecord"]

METHODS: Final = frozenset({
    "SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask",
    "SubscribeToTask", "CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
    "GetExtendedAgentCard"})
UNKNOWN: Final = "unknown"
"""The method of a request that could not be parsed."""
_SYSTEM: Final = N.RPC_SYSTEM_VALUE
_TASK_STATES: Final = frozenset({
    "TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "TASK_STATE_COMPLETED", "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED", "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_REJECTED",
    "TASK_STATE_AUTH_REQUIRED"})


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class AgentMetrics:
    """One agent's instruments (several agents may share one :class:`Metrics`)."""

    def __init__(self, metrics: Metrics, *, agent: str) -> None:
        self.metrics = metrics
        self.agent = agent
        self.requests = metrics.sum(N.SERVER_REQUESTS)
        self.duration = metrics.histogram(N.SERVER_DURATION)
        self.first = metrics.histogram(N.SERVER_FIRST_REPLY)
        self.bytes_in = metrics.sum(N.SERVER_REQUEST_SIZE)
        self.bytes_out = metrics.sum(N.SERVER_RESPONSE_SIZE)
        self.active = metrics.sum(N.SERVER_IN_FLIGHT)
        self.slot_waits = metrics.histogram(N.SERVER_SLOT_WAIT)
        self.tasks = metrics.sum(N.SERVER_TASKS)
        self.streams = metrics.sum(N.SERVER_OPEN_STREAMS)
        self.dedup = metrics.sum(N.SERVER_DEDUP_HITS)
        self.refusals = metrics.sum(N.SERVER_REFUSED)
        self._agent_key = (agent,)
        # Attribute tuples built once per state and per method (a bounded set each):
        # a request's hooks then look them up instead of building five tuples.
        self._states = {state: (agent, state.removeprefix("TASK_STATE_").lower())
                        for state in _TASK_STATES}
        self._methods: dict[str, _MethodKeys] = {}

    def begin(self, nbytes: int) -> CallRecord:
        return CallRecord(self, nbytes)

    def keys(self, method: str) -> _MethodKeys:
        """The attribute tuples of ``method`` (a :func:`method_label`), built once."""
        found = self._methods.get(method)
        if found is None:
            found = self._methods[method] = _MethodKeys(self.agent, method)
        return found

    def slot_wait(self, seconds: float) -> None:
        self.slot_waits.record(self._agent_key, seconds)

    def task_state(self, state: str) -> None:
        key = self._states.get(state)
        if key is not None:
            self.tasks.add(key)

    def stream(self, delta: int) -> None:
        self.streams.add(self._agent_key, delta)

    def dedup_hit(self) -> None:
        self.dedup.add(self._agent_key)

    def refused(self, reason: str) -> None:
        """A request refused unanswered; ``reason`` is one of a bounded set
        (:data:`a2a_mqtt.server.refusals.REASONS`)."""
        self.refusals.add((self.agent, reason))


class _MethodKeys:
    """One agent's and method's attribute tuples (the outcome-keyed ones by outcome)."""

    __slots__ = ("call", "ended", "timed")

    def __init__(self, agent: str, method: str) -> None:
        self.call = (agent, _SYSTEM, method)
        self.timed: dict[str, tuple[str, ...]] = {
            outcome: (agent, _SYSTEM, method, outcome)
            for outcome in ("ok", "error", "no_reply")}
        self.ended: dict[tuple[str, str], tuple[str, ...]] = {}
        """``rpc.server.requests`` keys by (outcome, error code), built at first use."""

    def requests(self, outcome: str, code: str) -> tuple[str, ...]:
        found = self.ended.get((outcome, code))
        if found is None:
            found = self.ended[(outcome, code)] = (*self.call, outcome, code)
        return found


class CallRecord:
    """One request message, from arrival to close (see the module invariants)."""

    __slots__ = ("_keys", "_m", "_method", "_nbytes", "_start", "code", "done", "replied")

    def __init__(self, m: AgentMetrics, nbytes: int) -> None:
        self._m = m
        self._start = time.perf_counter()
        self._nbytes = nbytes
        self._method = ""
        self._keys: _MethodKeys | None = None
        self.code: int | None = None
        """The JSON-RPC error code of the terminal reply, if it is an error."""
        self.replied = False
        self.done = False

    def named(self, method: str) -> None:
        """The request parsed: from here it is in flight under its method."""
        if self._method or self.done:
            return
        m = self._m
        self._method = method = method_label(method)
        self._keys = keys = m.keys(method)
        m.active.add(keys.call)
        m.bytes_in.add(keys.call, self._nbytes)

    def sent(self, nbytes: int, *, end: bool) -> None:
        """A reply was published (``nbytes`` of payload; ``end``: it carried the end marker)."""
        if self.done:
            return
        m = self._m
        if not self._method:
            self.named(UNKNOWN)
        assert self._keys is not None
        key = self._keys.call
        m.bytes_out.add(key, nbytes)
        if not self.replied:
            self.replied = True
            if not end:  # a stream's first event; a unary reply is timed as the terminal one
                m.first.record(key, time.perf_counter() - self._start)
        if end:
            code = self.code
            self._finish("ok" if code is None else "error", "" if code is None else str(code))

    def close(self) -> None:
        """The dispatcher is done with the message: count it if no end marker went out."""
        if not self.done:
            if not self._method:
                self.named(UNKNOWN)
            self._finish("no_reply", "")

    def _finish(self, outcome: str, code: str) -> None:
        self.done = True
        m = self._m
        keys = self._keys
        assert keys is not None
        m.requests.add(keys.requests(outcome, code))
        m.duration.record(keys.timed[outcome], time.perf_counter() - self._start)
        m.active.add(keys.call, -1)
