"""RegistryConfig: everything one registry instance needs, as a frozen value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from a2a_mqtt.binding.topics import AgentRef, validate_identifier
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.config import ObservabilityConfig

if TYPE_CHECKING:
    from a2a_mqtt.registry.server import RegistryServer
    from a2a_mqtt.security.cards import CardPolicy

__all__ = ["RegistryConfig", "StalePolicy"]


def _default_ingest_id() -> str:
    return f"registry-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, kw_only=True)
class StalePolicy:
    """Clear (empty retained publish) cards offline for longer than ``max_offline_age``.

    Opt-in. The age is counted from when *this instance* saw the card go
    offline (or first saw it offline): a restarted registry starts counting
    again, so it never clears a card early.
    """

    max_offline_age: float
    """Seconds a card may stay offline before it is cleared."""
    dry_run: bool = False
    """Only report what would be cleared (log, ``/stats``), publish nothing."""
    interval: float | None = None
    """Seconds between sweeps; default a quarter of the age, between 1 s and 60 s."""

    def __post_init__(self) -> None:
        if self.max_offline_age < 0:
            raise ConfigError("max_offline_age must be >= 0 seconds")
        if self.interval is not None and self.interval <= 0:
            raise ConfigError("the stale sweep interval must be positive")

    @property
    def every(self) -> float:
        if self.interval is not None:
            return self.interval
        return min(60.0, max(1.0, self.max_offline_age / 4))


@dataclass(frozen=True, kw_only=True)
class RegistryConfig:
    """One registry: which broker and scope to index, where to answer, what it may do.

    The registry holds no state of its own: every instance rebuilds the same
    index from the retained cards, so copies can run side by side.
    """

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    org: str | None = None
    """Index only this org (all orgs when None)."""
    unit: str | None = None
    """Index only this unit of ``org``."""
    ingest_org: str = "a2a-mqtt"
    ingest_unit: str = "registry"
    ingest_id: str = field(default_factory=_default_ingest_id)
    """The indexing connection's Client ID is ``ingest_org/ingest_unit/ingest_id``."""
    http_host: str = "127.0.0.1"
    http_port: int = 8700
    """0 picks a free port (see ``RegistryServer.url``)."""
    admin_token: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    """Enables PUT/DELETE of cards over HTTP for ``Authorization: Bearer <token>``."""
    max_card_bytes: int = 256 * 1024
    """Larger card payloads are rejected without being decoded."""
    stale: StalePolicy | None = None
    """Clearing of long-offline cards; off when None."""
    agent_ref: AgentRef | None = field(
        default_factory=lambda: AgentRef("a2a-mqtt", "registry", "registry"))
    """The registry's own A2A agent (query skill); None disables it. Copies need distinct refs."""
    public_broker_url: str | None = None
    """The broker URL written into the registry agent's card, if clients use another."""
    sync_timeout: float = 120.0
    """Seconds the initial retained replay may take before start-up fails."""
    feed_ring_size: int = 10_000
    """Changes kept for SSE clients resuming with Last-Event-ID."""
    feed_queue_size: int = 1_000
    """Changes one SSE client may lag behind before it is dropped (overflow event)."""
    heartbeat: float = 15.0
    """Seconds between SSE keep-alive comments on an idle stream."""
    default_agent_limit: int = 20
    """Cards per A2A answer when the query names no ``limit``."""
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    """Metrics and OTLP push; ``/metrics``, ``/healthz``, ``/readyz`` are on ``http_port``."""
    card_policy: CardPolicy | None = None
    """Card signatures: ``warn`` flags unverified entries (``signature`` in answers),
    ``require`` rejects them with the reason; None or ``off`` does not check."""

    def __post_init__(self) -> None:
        if self.unit is not None and self.org is None:
            raise ConfigError("a unit scope needs an org")
        if self.org is not None:
            validate_identifier(self.org, "org id")
        if self.unit is not None:
            validate_identifier(self.unit, "unit id")
        for name in ("ingest_org", "ingest_unit", "ingest_id"):
            validate_identifier(getattr(self, name), name.replace("_", " "))
        if not 0 <= self.http_port <= 65535:
            raise ConfigError(f"http_port must be in 0..65535, got {self.http_port}")
        for name in ("max_card_bytes", "sync_timeout", "feed_ring_size", "feed_queue_size",
                     "heartbeat", "default_agent_limit"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ConfigError("admin_token must be at least 16 characters")
        if self.agent_ref is not None and self.agent_ref.pool:
            raise ConfigError("the registry agent needs an org/unit/agent reference")

    def server(self) -> RegistryServer:
        """This config's server (``a2a_mqtt.run(config)`` runs it)."""
        from a2a_mqtt.registry.server import RegistryServer  # noqa: PLC0415 - imports this

        return RegistryServer(self)

    @property
    def ingest_ref(self) -> AgentRef:
        """The identity of the indexing connection (its Client ID and reply namespace)."""
        return AgentRef(self.ingest_org, self.ingest_unit, self.ingest_id)
