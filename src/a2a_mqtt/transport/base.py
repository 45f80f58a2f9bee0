"""The narrow seam between a2a-mqtt and an MQTT 5 client library.

Everything above this module speaks in the value objects of
:mod:`a2a_mqtt.mqtt_types` (re-exported here) and the :class:`MqttTransport`
protocol; only modules inside ``a2a_mqtt.transport`` import the MQTT client
library itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from a2a_mqtt.mqtt_types import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    MessageHandler,
    PublishProperties,
    Subscription,
    TLSConfig,
    Will,
)

__all__ = [
    "BrokerURL",
    "ConnectOptions",
    "IncomingMessage",
    "MessageHandler",
    "MqttTransport",
    "PublishProperties",
    "Subscription",
    "TLSConfig",
    "TransportFactory",
    "Will",
    "default_transport",
]


@runtime_checkable
class MqttTransport(Protocol):
    """One MQTT 5 session that survives reconnects.

    Implementations deliver each incoming PUBLISH to the handler of every
    subscription whose filter matches it, in arrival order, on the event loop.
    Subscriptions are re-sent on every connect (Mosquitto 2.0.11 loses durable
    ``$share`` subscriptions otherwise). An async context manager: ``async with``
    connects and disconnects; it is reusable but not reentrant.
    """

    @property
    def connected(self) -> bool: ...

    @property
    def client_id(self) -> str: ...

    async def connect(self) -> None:
        """Open the session; raise ConnectError if the first attempt fails."""

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once the session is up (immediately if it is)."""

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> int:
        """Publish; for QoS 1 return once PUBACK arrives, raising PublishError on a failure code.

        Returns the acknowledgement's reason code: 0 on success, 0x10 when the
        broker found no matching subscriber (a success in MQTT 5, but one a
        requester wants to know about); always 0 for QoS 0.
        """

    async def subscribe(self, subscription: Subscription, handler: MessageHandler) -> None:
        """Subscribe and route matching messages to ``handler``; raise SubscribeError on refusal."""

    async def unsubscribe(self, topic_filter: str) -> None:
        """Remove a subscription."""

    def on_connection_change(self, callback: Callable[[bool], None]) -> None:
        """Register a callback run on the event loop whenever the session goes up or down."""

    async def disconnect(self, *, send_will: bool = False) -> None:
        """Close the session cleanly (DISCONNECT), optionally asking the broker to send the will."""


TransportFactory = Callable[[ConnectOptions], MqttTransport]
"""How a component gets its transport; tests and embedders may pass their own."""


def default_transport(options: ConnectOptions) -> MqttTransport:
    """The library's transport (on the ``mqtt5`` codec), imported only when first needed."""
    from a2a_mqtt.transport.mqtt5_transport import Mqtt5Transport  # noqa: PLC0415 - lazy seam

    return Mqtt5Transport(options)
