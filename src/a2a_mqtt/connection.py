"""ConnectionSettings: how any a2a-mqtt component reaches the broker, as one value.

Every service and client config embeds one (``AgentConfig(connection=...)``,
``RequesterConfig``, ``RegistryConfig``, ``GatewayConfig``, ``ExposeConfig``,
the MCP configs), so the broker URL, credentials, TLS files and keepalive are
declared, validated and resolved in this one place. What differs between
components -- Client ID, clean start and session expiry, the will -- is passed
to :meth:`ConnectionSettings.connect_options` by the component.

Credentials, defined once (:meth:`ConnectionSettings.credentials`):

1. the username is the explicit ``username`` when it is set (``""`` counts as
   set), else the URL's userinfo user (``mqtt://user:pass@host``);
2. the password is the explicit ``password`` when it is set, else the URL's
   password -- but only when the username in effect is the URL's own: a URL's
   password is never sent with another user's name;
3. the library reads no environment variables. ``A2A_MQTT_USERNAME``,
   ``A2A_MQTT_PASSWORD`` and profiles are the CLI's (``cli/connection.py``:
   flag, then variable, then profile), which builds one ConnectionSettings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mqtt_types import BrokerURL, ConnectOptions, TLSConfig, Will

__all__ = ["DEFAULT_BROKER_URL", "ConnectionSettings"]

DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """Broker URL, credentials, TLS and keepalive; validated at construction."""

    url: str = DEFAULT_BROKER_URL
    """``mqtt://``, ``mqtts://``, ``ws://`` or ``wss://``; may carry ``user:password@``."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    tls: TLSConfig | None = None
    """TLS files; None with an ``mqtts://``/``wss://`` URL uses the system trust store."""
    keepalive: int = 30
    """Seconds between PINGREQs when idle; the broker drops us after 1.5 times this."""
    connect_timeout: float = 10.0
    """Seconds the first CONNECT may take before start-up fails."""

    def __post_init__(self) -> None:
        self.broker_url  # noqa: B018 - validates the URL
        if self.keepalive <= 0:
            raise ConfigError("keepalive must be positive")
        if self.connect_timeout <= 0:
            raise ConfigError("connect_timeout must be positive")

    def __repr__(self) -> str:
        # The URL without userinfo: a password in the URL never reaches a log.
        return (f"ConnectionSettings(url={str(self.broker_url)!r}, username={self.username!r}, "
                f"tls={self.tls!r}, keepalive={self.keepalive})")

    @property
    def broker_url(self) -> BrokerURL:
        """The parsed URL (raises :class:`ConfigError` for a malformed one)."""
        return BrokerURL.parse(self.url)

    def display_url(self) -> str:
        """The URL for logs and messages: no credentials."""
        return str(self.broker_url)

    def credentials(self) -> tuple[str | None, str | None]:
        """``(username, password)`` sent in CONNECT (module docstring: the one rule)."""
        url = self.broker_url
        username = self.username if self.username is not None else url.username
        if self.password is not None:
            return username, self.password
        return username, url.password if username == url.username else None

    def connect_options(self, *, client_id: str, clean_start: bool = True,
                        session_expiry: int = 0, will: Will | None = None,
                        ack_timeout: float = 30.0,
                        user_properties: tuple[tuple[str, str], ...] = ()) -> ConnectOptions:
        """The transport's options for one session of this component."""
        username, password = self.credentials()
        return ConnectOptions(
            # Userinfo resolved above; the transport gets a URL without it, so no later
            # layer can apply a fallback of its own.
            url=replace(self.broker_url, username=None,
                        password=None), client_id=client_id, username=username, password=password,
            tls=self.tls, keepalive=self.keepalive, clean_start=clean_start,
            session_expiry_interval=session_expiry, will=will, ack_timeout=ack_timeout,
            connect_timeout=self.connect_timeout, user_properties=user_properties)
