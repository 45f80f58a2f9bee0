"""DashboardConfig: everything one dashboard instance needs, as a frozen value."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from a2a_mqtt.binding.topics import validate_identifier
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.dashboard.auth import parse_password_hash
from a2a_mqtt.errors import ConfigError

if TYPE_CHECKING:
    from a2a_mqtt.dashboard.server import DashboardServer

__all__ = ["DEFAULT_PORT", "DashboardConfig"]

DEFAULT_PORT = 8800
"""Beside the gateway (8080) and the registry (8700)."""


def _dashboard_id() -> str:
    return f"dashboard-{uuid.uuid4().hex[:12]}"


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_url(name: str, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s):// URL, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class DashboardConfig:
    """The web console: where it listens, which registry it reads, who may act.

    The browser never sees the broker credentials: every MQTT call is made by
    this process with its own identity (``org/unit/dashboard_id``).
    """

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection): the dashboard's
    own identity on the broker."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    """0 picks a free port (see ``DashboardServer.url``)."""
    registry_url: str | None = None
    """Read the fleet from this registry (``http://host:port``); None embeds one."""
    registry_token: str | None = field(default=None, repr=False)
    gateway_url: str | None = None
    """Base URL of an a2a-mqtt gateway: the agent page links to its routes."""
    metrics_urls: tuple[str, ...] = ()
    """Prometheus text endpoints (``.../metrics``) of fleet services to chart."""
    org: str = "a2a-mqtt"
    unit: str = "dashboard"
    dashboard_id: str = field(default_factory=_dashboard_id)
    """The MQTT Client ID of the dashboard's calls is ``org/unit/dashboard_id``."""
    read_only: bool = False
    """Fleet view only: sending and cancelling are refused (403)."""
    password_hash: str | None = field(default=None, repr=False)
    """``scrypt$N$r$p$SALT$HASH`` (``a2a-mqtt dashboard hash-password``): people sign in
    with that password before they send or cancel."""
    access_token: str | None = field(default=None, repr=False)  # a secret
    """A sign-in token (16+ characters), compared in constant time."""
    session_ttl: float = 8 * 3600.0
    max_upload_bytes: int = 4 * 1024 * 1024
    """Larger send requests get 413 before they are read in full."""
    reply_timeout: float = 15.0
    """Seconds to wait for an agent's first reply."""
    stream_idle_timeout: float = 120.0
    """Seconds allowed between two events of a stream."""
    broker_sys: bool = True
    """Subscribe to ``$SYS/#`` for the broker health page (when the broker offers it)."""

    def __post_init__(self) -> None:
        validate_identifier(self.org, "org id")
        validate_identifier(self.unit, "unit id")
        validate_identifier(self.dashboard_id, "dashboard id")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        _http_url("registry_url", self.registry_url)
        _http_url("gateway_url", self.gateway_url)
        for url in self.metrics_urls:
            _http_url("metrics url", url)
        if self.password_hash is not None:
            parse_password_hash(self.password_hash)
        if self.access_token is not None and len(self.access_token) < 16:
            raise ConfigError("access_token must be at least 16 characters")
        for name in ("session_ttl", "max_upload_bytes", "reply_timeout",
                     "stream_idle_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if not (self.read_only or self.sign_in_required or _loopback(self.host)):
            raise ConfigError(
                f"a dashboard listening on {self.host!r} (not loopback) must either be "
                "--read-only or require a sign-in (--password-hash or --access-token)")

    def server(self) -> DashboardServer:
        """This config's server (``a2a_mqtt.run(config)`` runs it)."""
        from a2a_mqtt.dashboard.server import DashboardServer  # noqa: PLC0415 - imports this

        return DashboardServer(self)

    @property
    def sign_in_required(self) -> bool:
        """True when a person must sign in before sending or cancelling."""
        return self.password_hash is not None or self.access_token is not None
