"""The MQTT seam: value objects in ``base``; the paho-backed implementation beside it.

Only modules in this package import paho. Everything else depends on
:class:`MqttTransport` and gets an implementation from :func:`create_transport`
(unconnected, the shape of a transport factory) or :func:`connect_transport`.
"""

from a2a_mqtt.transport.base import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    MessageHandler,
    MqttTransport,
    PublishProperties,
    Subscription,
    TLSConfig,
    Will,
)
from a2a_mqtt.transport.paho import PahoTransport

__all__ = [
    "BrokerURL",
    "ConnectOptions",
    "IncomingMessage",
    "MessageHandler",
    "MqttTransport",
    "PahoTransport",
    "PublishProperties",
    "Subscription",
    "TLSConfig",
    "Will",
    "connect_transport",
    "create_transport",
]


def create_transport(options: ConnectOptions) -> MqttTransport:
    """A new, not yet connected transport with the default implementation."""
    return PahoTransport(options=options)


async def connect_transport(options: ConnectOptions) -> MqttTransport:
    """A connected transport; raises ConnectError if the broker refuses or is unreachable."""
    transport = PahoTransport(options=options)
    await transport.connect()
    return transport
