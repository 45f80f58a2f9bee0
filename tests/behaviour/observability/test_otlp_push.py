"""OTLP/HTTP push to a real HTTP receiver: the same instruments arrive, decoded from protobuf."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.metrics import Metrics
from tests.behaviour.observability.otlp import metrics_receiver

pytestmark = pytest.mark.asyncio


async def test_metrics_are_pushed_over_otlp_http() -> None:
    received: list[ExportMetricsServiceRequest] = []
    headers_seen: list[dict[str, str]] = []
    arrived = asyncio.Event()

    def receiver(request: ExportMetricsServiceRequest, headers: dict[str, str]) -> None:
        received.append(request)
        headers_seen.append(headers)
        names = {m.name for rm in request.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics}
        if N.SERVER_REQUESTS.name in names:
            arrived.set()

    async with metrics_receiver(receiver) as url:
        metrics = Metrics(service="agent", config=ObservabilityConfig(
            otlp_endpoint=f"{url}/v1/metrics", otlp_interval=0.2,
            otlp_headers=(("x-api-key", "k-123"),)))
        try:
            metrics.sum(N.SERVER_REQUESTS).add(("o/u/a", "a2a", "SendMessage", "ok", ""), 5)
            metrics.histogram(N.SERVER_DURATION).record(("o/u/a", "a2a", "SendMessage", "ok"),
                                                         0.01)
            await asyncio.wait_for(arrived.wait(), 15)
        finally:
            await asyncio.to_thread(metrics.shutdown)
    request = next(r for r in received if any(
        m.name == N.SERVER_REQUESTS.name for rm in r.resource_metrics
        for sm in rm.scope_metrics for m in sm.metrics))
    attributes = request.resource_metrics[0].resource.attributes
    resource = {a.key: a.value.string_value for a in attributes}
    assert resource["service.name"] == "a2a-mqtt-agent"
    metric = next(m for rm in request.resource_metrics for sm in rm.scope_metrics
                  for m in sm.metrics if m.name == N.SERVER_REQUESTS.name)
    point = metric.sum.data_points[0]
    assert metric.sum.is_monotonic and point.as_double + point.as_int == 5
    labels = {a.key: a.value.string_value for a in point.attributes}
    assert labels["rpc.method"] == "SendMessage" and labels["a2a.agent"] == "o/u/a"
    # The histogram is in the same push, its one observation included.
    hist = next(m for rm in request.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == N.SERVER_DURATION.name)
    assert [p.count for p in hist.histogram.data_points] == [1]
    assert headers_seen[0]["x-api-key"] == "k-123"
    assert "k-123" not in repr(ObservabilityConfig(otlp_headers=(("x-api-key", "k-123"),)))
