"""make_metrics: a service's Metrics, or None when off or when the SDK is not installed.

The OpenTelemetry SDK and exporters are the ``observability`` extra. Without them a
service still runs, answers ``/healthz`` and ``/readyz``, and says "metrics are off"
at ``/metrics``; asking for an OTLP push or an agent metrics port without them raises
:class:`MissingExtraError` naming the extra.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from a2a_mqtt.extras import MissingExtraError
from a2a_mqtt.observability.config import ObservabilityConfig

if TYPE_CHECKING:
    from a2a_mqtt.observability.metrics import Metrics

__all__ = ["make_metrics"]

log = logging.getLogger("a2a_mqtt.observability")


def make_metrics(*, service: str, config: ObservabilityConfig,
                 served: bool = False, instance: str = "") -> Metrics | None:
    """``served``: the service serves ``/metrics`` on a port of its own (gateway, registry);
    ``instance``: the ``service.instance.id`` resource attribute (worker processes)."""
    if not config.wanted(served=served):
        return None
    try:
        from a2a_mqtt.observability.metrics import Metrics  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        if config.otlp_endpoint is not None or config.http_port is not None:
            raise MissingExtraError(exc.name or "opentelemetry-sdk", ("observability",)) from None
        log.info("%s: metrics off, the observability extra is not installed (%s)", service, exc)
        return None
    return Metrics(service=service, instance=instance, config=config)
