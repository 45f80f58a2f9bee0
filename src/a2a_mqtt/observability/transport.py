"""TransportMetrics: the transport's stats hook, recorded as ``messaging.*`` metrics.

The MQTT transport knows nothing of metrics: it calls a small stats hook
(``TransportStats`` in ``a2a_mqtt.transport.base``) at each connect, loss, publish
and delivery, and this class implements it for one session. Reasons are folded
into a bounded set (:func:`loss_reason`): the transport's text quotes addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from a2a_mqtt.observability import names as N

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["TransportMetrics", "loss_reason"]

_SYSTEM: Final = "mqtt"


def loss_reason(text: str) -> str:
    """``keepalive`` | ``broker_disconnect`` | ``closed`` | ``network`` | ``protocol``."""
    lowered = text.lower()
    if "keepalive" in lowered or "pingresp" in lowered:
        return "keepalive"
    if "disconnect" in lowered:
        return "broker_disconnect"
    if "closed" in lowered or "eof" in lowered:
        return "closed"
    if "malformed" in lowered or "protocol" in lowered:
        return "protocol"
    return "network"


class TransportMetrics:
    """One MQTT session's connects, losses, publish acks, queue depth and messages."""

    __slots__ = ("_ack", "_away", "_client", "_connects", "_depth", "_in", "_lost",
                 "_messages", "_out", "_reconnects", "_system")

    def __init__(self, metrics: Metrics, *, client_id: str) -> None:
        self._connects = metrics.sum(N.TRANSPORT_CONNECTS)
        self._reconnects = metrics.sum(N.TRANSPORT_RECONNECTS)
        self._lost = metrics.sum(N.TRANSPORT_DISCONNECTS)
        self._away = metrics.histogram(N.TRANSPORT_DISCONNECTED_TIME)
        self._ack = metrics.histogram(N.TRANSPORT_PUBLISH_ACK)
        self._depth = metrics.sum(N.TRANSPORT_QUEUE_DEPTH)
        self._messages = metrics.sum(N.TRANSPORT_MESSAGES)
        self._client = (_SYSTEM, client_id)
        self._system = (_SYSTEM,)
        self._out = (_SYSTEM, "out")
        self._in = (_SYSTEM, "in")

    def connected(self, *, again: bool, away: float | None) -> None:
        """A CONNACK; ``again`` after a loss, ``away`` seconds since that loss."""
        self._connects.add(self._client)
        if again:
            self._reconnects.add(self._client)
        if away is not None:
            self._away.record(self._system, away)

    def lost(self, reason: str) -> None:
        """The connection ended without our asking (``reason`` as the transport logs it)."""
        self._lost.add((*self._client, loss_reason(reason)))

    def publish_started(self) -> None:
        self._depth.add(self._system)
        self._messages.add(self._out)

    def publish_done(self, seconds: float | None) -> None:
        """The flow ended: acknowledged after ``seconds``, or None (failed, timed out)."""
        self._depth.add(self._system, -1)
        if seconds is not None:
            self._ack.record(self._system, seconds)

    def published_qos0(self) -> None:
        self._messages.add(self._out)

    def received(self) -> None:
        self._messages.add(self._in)
