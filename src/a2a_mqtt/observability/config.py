"""ObservabilityConfig: a service's metrics, push and health endpoint settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from a2a_mqtt.errors import ConfigError

__all__ = ["ObservabilityConfig"]


@dataclass(frozen=True, kw_only=True)
class ObservabilityConfig:
    """Metrics on or off, where they are pushed, and (agents) where they are served.

    The gateway, the registry and expose serve ``/metrics``, ``/healthz`` and
    ``/readyz`` on their own HTTP port; agents have no HTTP port of their own and
    get one only when ``http_port`` is set (one per process, shared by its agents).
    """

    metrics: bool | None = None
    """Record metrics (cheap: bench/observability_cost.py). None: when someone can read
    them, i.e. always for the gateway and the registry (their port serves ``/metrics``),
    and for agents when ``http_port`` or ``otlp_endpoint`` is set. Off: ``/metrics``
    says so (404)."""
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    """Agents: serve ``/metrics``, ``/healthz``, ``/readyz`` here (0: a free port)."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP metrics endpoint (``http://collector:4318/v1/metrics``); None: no push."""
    otlp_interval: float = 30.0
    """Seconds between two OTLP pushes."""
    otlp_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """Extra HTTP headers for the push (an API key, say): never logged, never in repr."""
    metrics_process: bool = True
    """Record and read through the OpenTelemetry SDK in a child process (the metrics
    process, one per service process: about 30 MB resident, 17 MB of it its own).
    Off (``A2A_MQTT_METRICS_PROCESS=0``): in this process, which costs the request path
    the SDK's calls, but keeps exemplars in an OTLP push."""

    def __post_init__(self) -> None:
        if self.http_port is not None and not 0 <= self.http_port <= 65535:
            raise ConfigError(f"http_port {self.http_port} is out of range")
        if self.otlp_interval <= 0:
            raise ConfigError("otlp_interval must be positive")
        if self.otlp_endpoint is not None and not self.otlp_endpoint.startswith(
                ("http://", "https://")):
            raise ConfigError("otlp_endpoint must be an http(s) URL")

    def wanted(self, *, served: bool) -> bool:
        """Whether to record: as asked, else when a port (``served``: the service's own)
        or a push can read the figures."""
        if self.metrics is not None:
            return self.metrics
        return served or self.http_port is not None or self.otlp_endpoint is not None

    @classmethod
    def from_env(cls, **overrides: object) -> ObservabilityConfig:
        """Defaults from ``A2A_MQTT_METRICS`` (``0`` turns metrics off) and the standard
        ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` (else ``OTEL_EXPORTER_OTLP_ENDPOINT`` +
        ``/v1/metrics``); ``overrides`` win (None values ignored)."""
        values: dict[str, object] = {}
        if os.environ.get("A2A_MQTT_METRICS", "").strip().lower() in ("0", "false", "off"):
            values["metrics"] = False
        if os.environ.get("A2A_MQTT_METRICS_PROCESS", "").strip().lower() in (
                "0", "false", "off"):
            values["metrics_process"] = False
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
        base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        if endpoint:
            values["otlp_endpoint"] = endpoint
        elif base:  # the signal-less base URL, as OpenTelemetry defines it
            values["otlp_endpoint"] = base.rstrip("/") + "/v1/metrics"
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
