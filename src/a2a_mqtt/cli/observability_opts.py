"""The metrics flags every long-running command shares; the command receives
``observability: ObservabilityConfig`` (docs/observability.md). ``--otlp-endpoint`` is
tracing's (cli/tracing_opts.py); the metrics push has its own full URL, as OpenTelemetry
separates ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` from the traces one."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.config import ObservabilityConfig

__all__ = ["observability_options"]


def observability_options(*, port: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--no-metrics``, ``--otlp-metrics-endpoint`` and, for agents (``port``),
    ``--metrics-port``
    (the gateway and the registry serve ``/metrics`` on their own port)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*, metrics: bool | None, otlp_metrics_endpoint: str | None,
                    metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                    **kwargs: Any) -> Any:
            try:
                config = ObservabilityConfig.from_env(
                    metrics=metrics, otlp_endpoint=otlp_metrics_endpoint,
                    http_port=metrics_port, http_host=metrics_host)
            except ConfigError as exc:
                raise click.BadParameter(str(exc)) from exc
            return f(observability=config, **kwargs)

        command = click.option(
            "--metrics/--no-metrics", envvar="A2A_MQTT_METRICS", default=None,
            help="Record metrics [default: when something reads them: the gateway's and "
                 "the registry's port, --metrics-port, an OTLP push].",
        )(wrapper)
        command = click.option(
            "--otlp-metrics-endpoint", default=None, metavar="URL",
            help="Also push metrics over OTLP/HTTP to this full URL "
                 "(http://collector:4318/v1/metrics) [default: "
                 "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT "
                 "+ /v1/metrics, else no push].",
        )(command)
        if port:
            command = click.option(
                "--metrics-port", envvar="A2A_MQTT_METRICS_PORT", type=int, default=None,
                help="Serve /metrics, /healthz and /readyz on this port (0: a free one).",
            )(command)
            command = click.option(
                "--metrics-host", envvar="A2A_MQTT_METRICS_HOST", default="127.0.0.1",
                show_default=True, help="Interface of the metrics port.",
            )(command)
        return command

    return decorate
