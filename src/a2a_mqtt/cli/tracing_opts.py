"""Tracing flags of the serving commands (``--otlp-endpoint``, ``--trace-sample-ratio``).

Flags win over the standard ``OTEL_*`` variables, which are read as
OpenTelemetry defines them (docs/observability.md, Tracing). Without an
endpoint from either, tracing stays off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.tracing import TracingConfig

__all__ = ["TraceOptions", "tracing_options"]


@dataclass(frozen=True, slots=True)
class TraceOptions:
    """The flags as given; :meth:`config` makes the service's TracingConfig of them."""

    endpoint: str | None = None
    sample_ratio: float | None = None

    def config(self, service_name: str) -> TracingConfig:
        """Flags over ``OTEL_*``, for a service called ``service_name`` unless
        ``OTEL_SERVICE_NAME`` names it; off when neither gives an endpoint."""
        try:
            return TracingConfig.from_env(service_name=service_name, endpoint=self.endpoint,
                                          sample_ratio=self.sample_ratio)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--otlp-endpoint/OTEL_*") from exc


def tracing_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the tracing flags; the command receives ``trace: TraceOptions``."""
    @click.option("--otlp-endpoint", default=None, metavar="URL",
                  help="Export traces over OTLP/HTTP to this collector (base URL, as "
                       "OTEL_EXPORTER_OTLP_ENDPOINT; /v1/traces is appended) [default: "
                       "the OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT variables, else no tracing].")
    @click.option("--trace-sample-ratio", type=click.FloatRange(0.0, 1.0), default=None,
                  metavar="R",
                  help="Fraction of new traces kept; requests arriving with a trace follow "
                       "its decision [default: OTEL_TRACES_SAMPLER(_ARG), else 1.0].")
    @functools.wraps(f)
    def wrapper(*, otlp_endpoint: str | None, trace_sample_ratio: float | None,
                **kwargs: Any) -> Any:
        return f(trace=TraceOptions(otlp_endpoint, trace_sample_ratio), **kwargs)
    return wrapper
