"""The narrow seam between a2a-mqtt and an MQTT 5 client library.

Everything above this module speaks in these value objects; only modules inside
``a2a_mqtt.transport`` import the MQTT client library itself.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from a2a_mqtt.errors import ConfigError

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

_SCHEMES = {
    "mqtt": (1883, False, False),
    "mqtts": (8883, True, False),
    "ws": (80, False, True),
    "wss": (443, True, True),
    "tcp": (1883, False, False),
    "ssl": (8883, True, False),
}


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """A parsed broker URL: ``mqtt://``, ``mqtts://``, ``ws://`` or ``wss://``.

    Credentials may ride in the URL (``mqtt://user:pass@host:1883``); a path
    is only meaningful for WebSockets (default ``/mqtt``).
    """

    host: str
    port: int
    tls: bool = False
    websockets: bool = False
    path: str = "/mqtt"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never in repr or logs

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse ``url``; raise :class:`ConfigError` with the reason if it is not a broker URL."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigError(
                f"unsupported broker URL scheme {scheme!r} in {url!r}; "
                "use mqtt://, mqtts://, ws:// or wss://"
            )
        default_port, tls, ws = _SCHEMES[scheme]
        if not parts.hostname:
            raise ConfigError(f"broker URL {url!r} has no host")
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise ConfigError(f"broker URL {url!r} has an invalid port") from exc
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            websockets=ws,
            path=parts.path or "/mqtt",
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def __str__(self) -> str:
        scheme = (
            ("wss" if self.tls else "ws") if self.websockets else ("mqtts" if self.tls else "mqtt")
        )
        path = self.path if self.websockets else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """TLS options; any field left ``None`` uses the system default."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    insecure_skip_verify: bool = False
    context: ssl.SSLContext | None = None


@dataclass(frozen=True, slots=True)
class PublishProperties:
    """The MQTT 5 PUBLISH properties the binding uses.

    ``user_properties`` keeps order and allows repeated keys, as MQTT does.
    """

    response_topic: str | None = None
    correlation_data: bytes | None = None
    content_type: str | None = None
    payload_format_utf8: bool | None = None
    message_expiry_interval: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()

    def user_property(self, key: str) -> str | None:
        """Return the last value of ``key`` (case-insensitive), or ``None``."""
        key = key.lower()
        found: str | None = None
        for k, v in self.user_properties:
            if k.lower() == key:
                found = v
        return found


@dataclass(frozen=True, slots=True)
class Will:
    """The Last Will published by the broker if the connection dies uncleanly."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True
    properties: PublishProperties = field(default_factory=PublishProperties)
    delay_interval: int = 0


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Everything needed to open one MQTT 5 session.

    ``clean_start=False`` with a non-zero ``session_expiry_interval`` gives a
    persistent session: QoS 1 messages for our subscriptions are queued by the
    broker while we are away and delivered when we return.
    """

    url: BrokerURL
    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    tls: TLSConfig | None = None
    keepalive: int = 30
    clean_start: bool = True
    session_expiry_interval: int = 0
    will: Will | None = None
    # Upper bound on our unacknowledged QoS>0 publishes; the effective value is
    # min(this, the broker's CONNACK Receive Maximum).
    max_inflight: int = 1000
    # Reconnect backoff: first delay, then doubled up to the maximum, with jitter.
    reconnect_min_delay: float = 0.1
    reconnect_max_delay: float = 10.0
    connect_timeout: float = 10.0
    ack_timeout: float = 30.0
    # User properties of the CONNECT packet (MCP over MQTT announces itself there).
    user_properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A PUBLISH received from the broker."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: PublishProperties
    # Set when the message arrived through a subscription created with
    # ``manual_ack=True``: call it once the message is durably handled.
    ack: Callable[[], None] | None = None

    def acknowledge(self) -> None:
        """Acknowledge the message if its subscription asked for manual acknowledgement;
        safe to call more than once (the transport acknowledges a message at most once)."""
        if self.ack is not None:
            self.ack()


# Called on the event loop, synchronously, in arrival order. It must not block:
# work that awaits belongs in a task the handler creates.
MessageHandler = Callable[[IncomingMessage], None]


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription, re-established on every (re)connect."""

    topic_filter: str
    qos: int = 1
    no_local: bool = False
    manual_ack: bool = False
    # MQTT 5 Retain As Published: live messages keep the publisher's retain flag
    # (without it a broker clears the flag on everything but the subscribe replay).
    retain_as_published: bool = False


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
