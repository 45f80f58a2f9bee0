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

    def begin(self, nbytes: int) -> CallRecord:
        return CallRecord(self, nbytes)

    def slot_wait(self, seconds: float) -> None:
        self.slot_waits.record(self._agent_key, seconds)

    def task_state(self, state: str) -> None:
        if state in _TASK_STATES:
            self.tasks.add((self.agent, state.removeprefix("TASK_STATE_").lower()))

    def stream(self, delta: int) -> None:
        self.streams.add(self._agent_key, delta)

    def dedup_hit(self) -> None:
        self.dedup.add(self._agent_key)

    def refused(self, reason: str) -> None:
        """A request refused unanswered; ``reason`` is one of a bounded set
        (:data:`a2a_mqtt.server.refusals.REASONS`)."""
        self.refusals.add((self.agent, reason))


class CallRecord:
    """One request message, from arrival to close (see the module invariants)."""

    __slots__ = ("_m", "_method", "_nbytes", "_start", "code", "done", "replied")

    def __init__(self, m: AgentMetrics, nbytes: int) -> None:
        self._m = m
        self._start = time.perf_counter()
        self._nbytes = nbytes
        self._method = ""
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
        m.active.add((m.agent, _SYSTEM, method))
        m.bytes_in.add((m.agent, _SYSTEM, method), self._nbytes)

    def sent(self, nbytes: int, *, end: bool) -> None:
        """A reply was published (``nbytes`` of payload; ``end``: it carried the end marker)."""
        if self.done:
            return
        m = self._m
        if not self._method:
            self.named(UNKNOWN)
        key = (m.agent, _SYSTEM, self._method)
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
        method = self._method
        m.requests.add((m.agent, _SYSTEM, method, outcome, code))
        m.duration.record((m.agent, _SYSTEM, method, outcome), time.perf_counter() - self._start)
        m.active.add((m.agent, _SYSTEM, method), -1)
