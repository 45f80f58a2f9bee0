"""Metrics, health and logs for every a2a-mqtt service (docs/observability.md).

* ``names``: every metric name, unit and attribute (dashboards read it);
* ``config``: ``ObservabilityConfig``; ``factory.make_metrics``: a service's metrics;
* ``metrics``: the OTel meter provider, Prometheus and OTLP readers (the extra);
* ``agent``, ``client``, ``registry``: what each side records per event;
* ``health``: readiness checks; ``http``: ``/metrics``, ``/healthz``, ``/readyz``;
* ``logs``: text or JSON log lines with trace ids, secrets scrubbed.

Nothing here is imported by ``import a2a_mqtt``; the OpenTelemetry SDK loads only when
a service makes its metrics.
"""
