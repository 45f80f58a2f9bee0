"""The MQTT value types every layer speaks: broker URLs, TLS, PUBLISH properties, wills.

Pure values with no I/O and no MQTT library, so the binding (which builds
PUBLISH properties) and the configs (which carry a broker URL and TLS files)
sit below ``a2a_mqtt.transport`` instead of importing it. The transport seam
(:mod:`a2a_mqtt.transport.base`) re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from a2a_mqtt.errors import ConfigError

if TYPE_CHECKING:  # a type only: the values themselves never open a connection
    import ssl

__all__ = [
    "BrokerURL",
    "ConnectOptions",
    "IncomingMessage",
    "MessageHandler",
    "PublishProperties",
    "Subscription",
    "TLSConfig",
    "TransportStats",
    "Will",
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
    # Told about connects, losses, publishes and deliveries (metrics; None: nobody).
    stats: TransportStats | None = field(default=None, repr=False, compare=False)


class TransportStats(Protocol):
    """What a transport reports as it works (a2a_mqtt.observability.transport implements
    it). Called on the event loop, synchronously: each call must be cheap and not raise."""

    def connected(self, *, again: bool, away: float | None) -> None:
        """A CONNACK; ``again`` after a loss, ``away`` the seconds since that loss."""

    def lost(self, reason: str) -> None:
        """The connection ended without our asking, for ``reason``."""

    def publish_started(self) -> None:
        """A QoS>0 publish was queued."""

    def publish_done(self, seconds: float | None) -> None:
        """That publish was acknowledged after ``seconds``, or None: it failed."""

    def published_qos0(self) -> None:
        """A QoS 0 publish was sent."""

    def received(self) -> None:
        """A message was delivered to a subscription."""


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
