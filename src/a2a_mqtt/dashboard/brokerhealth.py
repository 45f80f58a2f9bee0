"""Broker health from ``$SYS``: the latest value of each ``$SYS`` topic the broker offers.

Mosquitto publishes ``$SYS/broker/...`` every ``sys_interval`` seconds (10 by
default; some brokers offer nothing there). The page shows what arrived and
when; a broker that publishes nothing is reported as such, never guessed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from a2a_mqtt.transport.base import IncomingMessage, MqttTransport, Subscription

__all__ = ["BrokerHealth"]

log = logging.getLogger("a2a_mqtt.dashboard")

_MAX_TOPICS: Final = 500
_MAX_VALUE: Final = 200
KEY_TOPICS: Final = (
    "$SYS/broker/version", "$SYS/broker/uptime", "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total", "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count", "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent", "$SYS/broker/load/messages/received/1min",
    "$SYS/broker/load/messages/sent/1min", "$SYS/broker/heap/current",
    "$SYS/broker/store/messages/count")


class BrokerHealth:
    """Keeps the latest ``$SYS`` values (bounded) from a subscription on ``transport``."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}
        self.subscribed = False
        self.error: str | None = None

    async def start(self, transport: MqttTransport) -> None:
        try:
            await transport.subscribe(Subscription("$SYS/#", qos=0), self._on_message)
            self.subscribed = True
        except Exception as exc:  # a broker may refuse $SYS: the page says so
            self.error = f"the broker refused the $SYS/# subscription: {exc}"
            log.warning("dashboard: %s", self.error)

    def _on_message(self, msg: IncomingMessage) -> None:
        if msg.topic not in self.values and len(self.values) >= _MAX_TOPICS:
            return
        text = msg.payload[:_MAX_VALUE].decode("utf-8", "replace")
        self.values[msg.topic] = (text, time.time())

    def snapshot(self) -> dict[str, Any]:
        """What the broker page shows: key figures first, then every topic."""
        if not self.subscribed:
            return {"available": False, "message": self.error or
                    "broker health is off on this dashboard (--no-broker-sys)"}
        if not self.values:
            return {"available": False, "message": "the broker has published nothing on "
                    "$SYS yet (Mosquitto does every sys_interval seconds, 10 by default; "
                    "some brokers never do)"}
        key = {t: self.values[t][0] for t in KEY_TOPICS if t in self.values}
        return {"available": True, "key": key, "updated": max(v[1] for v in self.values.values()),
                "topics": {t: v for t, (v, _) in sorted(self.values.items())}}
