"""GatewayConfig: everything the HTTP gateway needs, as one frozen value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from a2a_mqtt.binding.topics import discovery_filters
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.tracing import TracingConfig

if TYPE_CHECKING:
    from a2a_mqtt.gateway.server import GatewayServer
    from a2a_mqtt.security.cards import CardPolicy

__all__ = ["GatewayConfig"]

_RESERVED_FORWARD = frozenset({"version", "extensions", "host", "content-length",
                               "content-type", "connection", "transfer-encoding"})


def _gateway_id() -> str:
    return f"gateway-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """The HTTP side (where it listens, what it accepts) and the MQTT side (broker, waits).

    Defaults suit a gateway in front of interactive agents: a first reply within
    30 s, up to 300 s between two events of a stream (an agent that dies
    mid-stream is noticed sooner, from its will), one attempt per request
    (HTTP clients retry on their own).
    """

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    host: str = "127.0.0.1"
    port: int = 8080
    """0 picks a free port (see ``GatewayServer.url``)."""
    public_url: str | None = None
    """Base URL written into rewritten cards; default: from each request's Host header."""
    registry_url: str | None = None
    """Read the agents from this a2a-mqtt registry (``http://host:port``) instead of
    subscribing to every retained card."""
    org: str | None = None
    """Serve only agents of this org (discovery scope); None serves every org."""
    unit: str | None = None
    max_body_bytes: int = 1_048_576
    """Larger request bodies get 413 (HTTP+JSON) or JSON-RPC -32600 (as a2a-sdk answers)."""
    reply_timeout: float = 30.0
    """Seconds to wait for an agent's first reply."""
    stream_idle_timeout: float = 300.0
    """Seconds allowed between two events of a stream."""
    max_attempts: int = 1
    """MQTT attempts per request (the binding's retry profile; 3 retries a vanished agent)."""
    reject_offline: bool = True
    """Answer 503 at once for an agent whose card says offline, instead of queueing the
    request in its persistent session until it returns."""
    forward_headers: tuple[str, ...] = ()
    """HTTP headers forwarded as service parameters besides Authorization, ``A2A-*``,
    ``X-*`` and the card's API-key headers."""
    card_cache_control: str | None = "public, max-age=60"
    validate_input_modes: bool = True
    """Reject message parts whose media type the card does not declare
    (ContentTypeNotSupportedError), before anything reaches MQTT."""
    enable_v0_3_compat: bool = False
    """Also accept A2A 0.3 JSON-RPC and REST requests (a2a-sdk's compatibility adapters)."""
    lean_jsonrpc: bool = True
    """Answer JSON-RPC ``SendMessage`` on the lean path (:mod:`a2a_mqtt.gateway.lean`:
    the JSON relayed, same checks and answers); False sends it through a2a-sdk's route
    like every other method."""
    shutdown_grace: float = 5.0
    """Seconds a stop waits for open HTTP requests and streams before cancelling them."""
    keepalive_timeout: float = 75.0
    """Seconds an idle HTTP keep-alive connection stays open. Longer than the idle
    timeouts of common clients and proxies (httpx 5 s, nginx upstream 60 s), so the
    client, not the gateway, closes an idle connection: a request sent on a connection
    the server is closing at that moment fails without an answer (uvicorn's 5 s default
    lost 1 request in 2,000 in bench/gateway_compare.py)."""
    requester_id: str = field(default_factory=_gateway_id)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    """Metrics and OTLP push; ``/metrics`` and ``/readyz`` are served on ``port``."""
    card_policy: CardPolicy | None = None
    """Card signature policy for the agents it serves from discovery (None: off);
    under ``require`` an agent whose card does not verify is not served."""
    tracing: TracingConfig = field(default_factory=TracingConfig)
    """Spans and their export (docs/observability.md, Tracing); off by default."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range")
        for name in ("max_body_bytes", "reply_timeout", "stream_idle_timeout", "max_attempts"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.shutdown_grace < 0:
            raise ConfigError("shutdown_grace must be >= 0")
        if self.keepalive_timeout <= 0:
            raise ConfigError("keepalive_timeout must be positive")
        for name in ("public_url", "registry_url"):
            url = getattr(self, name)
            parts = urlsplit(url) if url is not None else None
            if parts is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
                raise ConfigError(f"{name} {url!r} must be an http(s) URL with a host")
        for name in self.forward_headers:
            if name.strip().lower() in _RESERVED_FORWARD:
                raise ConfigError(f"header {name!r} cannot be forwarded as a service parameter")
        discovery_filters(self.org, self.unit)  # validates the discovery scope
        self.requester()  # validates the requester id and the timeouts

    def server(self) -> GatewayServer:
        """This config's server (``a2a_mqtt.run(config)`` runs it)."""
        from a2a_mqtt.gateway.server import GatewayServer  # noqa: PLC0415 - imports this

        return GatewayServer(self)

    def requester(self) -> RequesterConfig:
        """The MQTT requester the gateway calls agents with."""
        return RequesterConfig(
            connection=self.connection, org="a2a-mqtt", unit="gateway",
            requester_id=self.requester_id,
            reply_first_timeout=self.reply_timeout, stream_idle_timeout=self.stream_idle_timeout,
            max_attempts=self.max_attempts, backoff=(0.5, 1.0), card_policy=self.card_policy)
