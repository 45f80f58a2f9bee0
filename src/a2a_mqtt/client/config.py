"""RequesterConfig: how a client connects and how patiently it waits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from a2a_mqtt.binding.topics import validate_identifier
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError

if TYPE_CHECKING:
    from a2a_mqtt.security.cards import CardPolicy
    from a2a_mqtt.security.e2e import E2EContext

__all__ = ["RequesterConfig"]


def _default_requester_id() -> str:
    return f"client-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, kw_only=True)
class RequesterConfig:
    """A requester's identity and the profile's retry/timeout settings.

    The defaults are the profile's (docs/binding.md §6.5): first reply within
    15 s, at most 30 s between stream items, 3 attempts with 1/2/4 s backoff
    and ±20 % jitter, an overloaded responder's ``retry-after`` honoured up to
    30 s. Every wait is bounded.
    """

    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    org: str = "a2a-mqtt"
    unit: str = "clients"
    requester_id: str = field(default_factory=_default_requester_id)
    """Our agent id in the reply namespace; Client ID is ``org/unit/requester_id``."""
    session_expiry: int = 300
    """Seconds the broker keeps queued replies for us across a connection loss."""
    reply_first_timeout: float = 15.0
    stream_idle_timeout: float = 30.0
    max_attempts: int = 3
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0)
    jitter: float = 0.2
    message_expiry: int | None = None
    """Message Expiry Interval on requests; should exceed reply_first_timeout."""
    max_retry_after: float = 30.0
    """The longest ``retry-after`` hint (from an overloaded responder) we wait out
    before a retry; a longer hint is raised to the caller as ``OverloadedError``."""
    stream_buffer: int = 10_000
    """Replies one call may hold that its consumer has not read yet; past this the
    call fails (resume with SubscribeToTask) instead of growing without bound."""
    card_policy: CardPolicy | None = None
    """Card signature policy applied by discovery on this connection (None: off)."""
    e2e: E2EContext | None = None
    """ubsp-v1: encrypt requests to agents whose cards publish a key; decrypt replies."""
    payload_encoding: str = "auto"
    """``auto``: ask agents for binary protobuf replies and, once an agent's reply says
    it reads them, send it binary requests (docs/binding.md §3.4); ``json``: JSON only.
    Calls made with JSON params (``Requester.call``) and ubsp-v1 stay JSON."""
    binary_retry_after: float = 600.0
    """Seconds a reference whose peer refused a binary request as unreadable (an older
    pool member) gets JSON only; after that a reply that says it reads binary is
    believed again, so a pool upgraded meanwhile goes back to binary."""

    def __post_init__(self) -> None:
        validate_identifier(self.org, "org id")
        validate_identifier(self.unit, "unit id")
        validate_identifier(self.requester_id, "requester id")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.reply_first_timeout <= 0 or self.stream_idle_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        if not self.backoff:
            raise ConfigError("backoff needs at least one delay")
        if self.max_retry_after < 0:
            raise ConfigError("max_retry_after must not be negative")
        if self.stream_buffer < 1:
            raise ConfigError("stream_buffer must be at least 1")
        if self.payload_encoding not in ("auto", "json"):
            raise ConfigError("payload_encoding must be auto or json")
        if self.binary_retry_after < 0:
            raise ConfigError("binary_retry_after must not be negative")
        identity = f"{self.org}/{self.unit}/{self.requester_id}"
        if self.e2e is not None and self.e2e.identity != identity:
            raise ConfigError(f"the ubsp-v1 context is for {self.e2e.identity}, "
                              f"this requester is {identity}")
