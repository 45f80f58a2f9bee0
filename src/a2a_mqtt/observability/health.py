"""Liveness and readiness: what ``/healthz`` and ``/readyz`` answer.

* **alive** (``/healthz``): the process serves HTTP; nothing else is checked, so a
  broker outage never gets a healthy process restarted.
* **ready** (``/readyz``): every registered check passes. Each MQTT service
  registers "connected to the broker" for every session it owns (its
  subscriptions are re-sent with each CONNACK, so connected means subscribed); a
  check turns false as soon as the transport reports the connection lost, which
  it notices within the keepalive window (1.5 x keepalive at most).

The same state is the ``a2a_mqtt.ready`` gauge (1/0), for agents without an HTTP port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from a2a_mqtt.observability import names as N

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["Health"]

log = logging.getLogger("a2a_mqtt.observability")

Check = Callable[[], bool]


class Health:
    """Named readiness checks of one service."""

    def __init__(self, *, service: str, metrics: Metrics | None = None) -> None:
        self.service = service
        self._checks: dict[str, Check] = {}
        if metrics is not None:
            metrics.gauge(N.SERVER_READY, lambda: [((service,), 1.0 if self.ready() else 0.0)])

    def add(self, name: str, check: Check) -> None:
        """Register (or replace) a check; ``name`` shows in ``/readyz`` (no secrets)."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    def status(self) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for name, check in list(self._checks.items()):
            try:
                out[name] = bool(check())
            except Exception:  # a broken check means "not ready", never a 500
                log.exception("readiness check %s failed", name)
                out[name] = False
        return out

    def ready(self) -> bool:
        """True when every check passes (and at least one is registered)."""
        status = self.status()
        return bool(status) and all(status.values())
