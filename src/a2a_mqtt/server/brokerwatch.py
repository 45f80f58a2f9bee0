"""Noticing the messages a broker drops silently.

Mosquitto discards QoS 1 messages past ``max_queued_messages`` for a client
(offline or slow) and says so only in its log and in
``$SYS/broker/publish/messages/dropped``. The configs a2a-mqtt generates make
the queue unlimited; against any other broker, :class:`DropWatch` follows that
counter, logs every increase as a warning and keeps the total seen, so a lost
request never goes unnoticed. Brokers without the topic simply never report.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from a2a_mqtt.mqtt_types import IncomingMessage, Subscription
from a2a_mqtt.transport.base import MqttTransport

__all__ = ["DROPPED_TOPIC", "DropWatch"]

log = logging.getLogger("a2a_mqtt.broker")

DROPPED_TOPIC: Final = "$SYS/broker/publish/messages/dropped"


class DropWatch:
    """Follows the broker's dropped-message counter; ``dropped`` is the increase seen."""

    def __init__(self, *, label: str) -> None:
        self._label = label
        self._baseline: int | None = None
        self.dropped = 0
        self._changed = asyncio.Condition()

    async def attach(self, transport: MqttTransport) -> None:
        await transport.subscribe(Subscription(DROPPED_TOPIC, qos=0), self._on_value)

    def _on_value(self, msg: IncomingMessage) -> None:
        try:
            value = int(msg.payload.decode().strip())
        except (UnicodeDecodeError, ValueError):
            return
        if self._baseline is None:
            # The first value (retained) is history from before we started watching.
            self._baseline = value
            return
        if value > self._baseline:
            increase = value - self._baseline
            self._baseline = value
            self.dropped += increase
            log.warning("%s: the broker dropped %d message(s) (%d seen in total): a client's "
                        "queue is full (Mosquitto max_queued_messages?) and requests or "
                        "replies may be lost", self._label, increase, self.dropped)
            asyncio.get_running_loop().create_task(self._notify())
        elif value < self._baseline:
            self._baseline = value  # the broker restarted and reset its counters

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, at_least: int, timeout: float) -> int:
        """Wait until at least ``at_least`` drops were seen; return the count."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.dropped >= at_least)
        return self.dropped
