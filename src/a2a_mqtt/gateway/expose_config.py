"""ExposeConfig: which HTTP A2A agents to put on MQTT, from flags or a TOML/JSON file.

A file lists the broker and the agents; everything but ``url`` and ``agent``
is optional::

    broker = "mqtt://127.0.0.1:1883"     # default: the --broker option

    [[agents]]
    url = "http://127.0.0.1:9999"        # the agent's base URL (card at /.well-known/...)
    agent = "acme/lab/weather"           # its org/unit/agent reference on MQTT
    headers = { Authorization = "Bearer s3cret" }   # sent with every HTTP call
    card_path = "/.well-known/agent-card.json"

The same as JSON: ``{"broker": ..., "agents": [{"url": ..., "agent": ...}]}``.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import DEFAULT_BROKER_URL, ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.tracing import TracingConfig

if TYPE_CHECKING:
    from a2a_mqtt.gateway.expose import ExposeHost

__all__ = ["ExposeConfig", "ExposedAgent", "load_expose_config"]


@dataclass(frozen=True, kw_only=True)
class ExposedAgent:
    """One HTTP agent and the MQTT address it gets."""

    url: str
    ref: AgentRef
    headers: tuple[tuple[str, str], ...] = ()
    """Static HTTP headers (credentials); a request's own ``Authorization`` wins."""
    card_path: str = AGENT_CARD_WELL_KNOWN_PATH

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"agent URL {self.url!r} must be an http(s) URL with a host")
        if self.ref.pool:
            raise ConfigError(f"{self.ref}: an exposed agent needs an org/unit/agent reference")


@dataclass(frozen=True, kw_only=True)
class ExposeConfig:
    """Every exposed agent, and how the bridge reaches the broker and the HTTP agents."""

    agents: tuple[ExposedAgent, ...]
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    """Broker URL, credentials, TLS and keepalive (a2a_mqtt.connection)."""
    session_expiry: int = 3600
    http_timeout: float = 30.0
    """Seconds to connect to an HTTP agent and to wait for a unary answer."""
    stream_timeout: float = 300.0
    """Seconds allowed between two events of an HTTP agent's stream."""
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    """Metrics, OTLP push, and the ``/metrics`` ``/healthz`` ``/readyz`` port (``http_port``)."""
    tracing: TracingConfig = field(default_factory=TracingConfig)
    """Spans and their export (docs/observability.md, Tracing); off by default."""

    def __post_init__(self) -> None:
        if not self.agents:
            raise ConfigError("expose needs at least one agent")
        refs = [a.ref for a in self.agents]
        duplicates = sorted({str(r) for r in refs if refs.count(r) > 1})
        if duplicates:
            raise ConfigError(f"agent reference(s) used twice: {', '.join(duplicates)}")
        if self.http_timeout <= 0 or self.stream_timeout <= 0:
            raise ConfigError("timeouts must be positive")


    def server(self) -> ExposeHost:
        """This config's server (``a2a_mqtt.run(config)`` runs it)."""
        from a2a_mqtt.gateway.expose import ExposeHost  # noqa: PLC0415 - it imports this module

        return ExposeHost(self)


def _agent(item: Any, where: str) -> ExposedAgent:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a table/object with url and agent")
    unknown = set(item) - {"url", "agent", "headers", "card_path"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    url, ref = item.get("url"), item.get("agent")
    if not isinstance(url, str) or not isinstance(ref, str):
        raise ConfigError(f"{where}: url and agent must both be strings")
    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigError(f"{where}: headers must map names to string values")
    card_path = item.get("card_path", AGENT_CARD_WELL_KNOWN_PATH)
    if not isinstance(card_path, str):
        raise ConfigError(f"{where}: card_path must be a string")
    return ExposedAgent(url=url, ref=AgentRef.parse(ref), headers=tuple(headers.items()),
                        card_path=card_path)


def load_expose_config(path: Path, *, broker_url: str | None = None,
                       connection: ConnectionSettings | None = None,
                       **overrides: Any) -> ExposeConfig:
    """Read a TOML (``.toml``) or JSON file.

    The broker URL is ``broker_url``, else the file's ``broker``, else ``connection``'s;
    credentials, TLS and keepalive come from ``connection``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix != ".json" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}"
                          f": {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
        raise ConfigError(f"{path}: expected a top-level 'agents' list")
    unknown = set(data) - {"agents", "broker"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    agents = tuple(_agent(item, f"{path}: agents[{i}]") for i, item in enumerate(data["agents"]))
    base = connection or ConnectionSettings()
    broker = broker_url or data.get("broker") or base.url or DEFAULT_BROKER_URL
    if not isinstance(broker, str):
        raise ConfigError(f"{path}: broker must be a string URL")
    return ExposeConfig(agents=agents, connection=replace(base, url=broker), **overrides)
