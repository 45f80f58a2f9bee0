"""What a requester records per call: ``rpc.client.*`` plus timeouts and retries.

One :class:`ClientCall` per :meth:`Requester.stream` call. It is counted once, when
the call ends: ``ok`` (the last reply arrived, or the caller stopped reading after a
reply), ``error`` with the JSON-RPC code of the error (``timeout`` when no reply came
in time, ``transport`` for a failure before any reply), or ``cancelled``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Final

from a2a.client.errors import A2AClientTimeoutError
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP, A2AError

from a2a_mqtt.binding.codes import BindingError
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.agent import method_label

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["ClientCall", "ClientMetrics", "error_label"]

_SYSTEM: Final = N.RPC_SYSTEM_VALUE


def error_label(exc: BaseException) -> str:
    """A bounded label for a failed call: the JSON-RPC code when there is one."""
    if isinstance(exc, BindingError):
        return str(exc.kind.code)
    if isinstance(exc, A2AError):
        code = JSON_RPC_ERROR_CODE_MAP.get(type(exc))
        return str(code) if code is not None else "a2a"
    if isinstance(exc, A2AClientTimeoutError | TimeoutError):
        return "timeout"
    return "transport"


class ClientMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.calls = metrics.sum(N.CLIENT_CALLS)
        self.duration = metrics.histogram(N.CLIENT_DURATION)
        self.timeouts = metrics.sum(N.CLIENT_TIMEOUTS)
        self.retries = metrics.sum(N.CLIENT_RETRIES)

    def begin(self, method: str) -> ClientCall:
        return ClientCall(self, method_label(method))


class ClientCall:
    __slots__ = ("_m", "_method", "_start", "replied")

    def __init__(self, m: ClientMetrics, method: str) -> None:
        self._m = m
        self._method = method
        self._start = time.perf_counter()
        self.replied = False

    def retry(self) -> None:
        self._m.retries.add((_SYSTEM, self._method))

    def timeout(self) -> None:
        self._m.timeouts.add((_SYSTEM, self._method))

    def end(self, exc: BaseException | None) -> None:
        if exc is None or (isinstance(exc, GeneratorExit) and self.replied):
            outcome, code = "ok", ""
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit):
            outcome, code = "cancelled", ""
        else:
            outcome, code = "error", error_label(exc)
        m = self._m
        m.calls.add((_SYSTEM, self._method, outcome, code))
        m.duration.record((_SYSTEM, self._method, outcome), time.perf_counter() - self._start)
