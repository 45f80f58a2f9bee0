"""What recording costs alone (no I/O, no broker): CPU microseconds per request.

Metrics: one agent request, one requester call and the transport hooks of one unary
request (two QoS 1 publishes timed to their PUBACK, two deliveries) through the real
instruments.
Tracing: the spans of one traced request as the code paths make them (the
requester's CLIENT span and its ``traceparent``; the agent's SERVER span from
those properties, named after the method; the executor's INTERNAL span), ended
into a list (a span processor: the batch processor's hand-off, minus its thread),
then the export process's work: rebuilt as SDK spans and the official exporter's
OTLP encoding of the batch.
"""

from __future__ import annotations

import time

from a2a_mqtt.observability.metrics import Metrics


def metrics_cost(n: int = 20_000) -> dict[str, float]:
    from a2a_mqtt.observability.agent import AgentMetrics
    from a2a_mqtt.observability.client import ClientMetrics

    metrics = Metrics(service="bench")
    metrics.render()  # the metrics process (if any) is up and idle
    child_start = _cpu_of(metrics.process_pid)
    agent, client = AgentMetrics(metrics, agent="bench/o/a"), ClientMetrics(metrics)
    start = time.process_time()
    for _ in range(n):
        call = agent.begin(300)
        call.named("SendMessage")
        agent.slot_wait(0.0001)
        agent.task_state("TASK_STATE_COMPLETED")
        call.sent(600, end=True)
        call.close()
    agent_us = (time.process_time() - start) / n * 1e6
    start = time.process_time()
    for _ in range(n):
        record = client.begin("SendMessage")
        record.replied = True
        record.end(None)
    client_us = (time.process_time() - start) / n * 1e6
    # The transport's hooks per unary request: the request's and the reply's QoS 1
    # publishes (each timed to its PUBACK) and their two deliveries.
    from a2a_mqtt.observability.transport import TransportMetrics

    transport = TransportMetrics(metrics, client_id="bench")
    start = time.process_time()
    for _ in range(n):
        for _publish in range(2):
            transport.publish_started()
            transport.publish_done(0.0004)
            transport.received()
    transport_us = (time.process_time() - start) / n * 1e6
    metrics.render()  # a round trip: the metrics process has recorded everything
    child_us = (_cpu_of(metrics.process_pid) - child_start) / n * 1e6
    start = time.process_time()
    for _ in range(50):
        metrics.render()
    render_ms = (time.process_time() - start) / 50 * 1e3
    return {"agent_us": round(agent_us, 1), "requester_us": round(client_us, 1),
            "transport_us": round(transport_us, 1), "process_us": round(child_us, 1),
            "scrape_render_ms": round(render_ms, 2)}


def _cpu_of(pid: int | None) -> float:
    """CPU seconds of process ``pid`` so far (0 when there is none)."""
    if pid is None:
        return 0.0
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tracing_cost(n: int = 10_000, ratio: float = 1.0) -> dict[str, float]:
    """Span work per traced request, then encoding per request (3 spans)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanKind

    from a2a_mqtt.binding.tracecontext import inject_span
    from a2a_mqtt.observability import tracing
    from a2a_mqtt.observability.leanspan import LeanTracer
    from a2a_mqtt.observability.spanwire import load_lean_span

    kept: list[tuple] = []
    keep = [False]

    def sink(row: tuple) -> None:  # the export process's hand-off, minus the pipe
        if keep[0]:
            kept.append(row)

    # The tracer configure_tracing gives our spans (the export process's default).
    root = ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio)
    lean = LeanTracer(sampler=ParentBased(root), id_generator=RandomIdGenerator(),
                      limits=SpanLimits(), sink=sink, parent_decides=True,
                      roots_sampled=root is ALWAYS_ON,
                      root_ratio=root if isinstance(root, TraceIdRatioBased) else None)
    topic = "$a2a/v1/request/bench/o/a"

    def one() -> None:
        with tracing.client_span("SendMessage", topic) as client:
            props = [("a2a-version", "1.0"), *inject_span(client)] if client else []
            with tracing.server_span(props, topic) as server:
                tracing.name_request("SendMessage", server)
                parent = tracing.recording_parent()
                if parent is not None:  # as TracedExecutor
                    with tracing.span("a2a/execute", kind=SpanKind.INTERNAL,
                                      attributes={"a2a.task.id": "t", "a2a.executor": "Bench"},
                                      below=parent):
                        pass

    saved = tracing.use_tracer(lean)
    try:
        for _ in range(1000):
            one()
        start = time.process_time()
        for _ in range(n):
            one()
        spans_us = (time.process_time() - start) / n * 1e6
        keep[0] = True
        for _ in range(2000):
            one()
    finally:
        tracing.use_tracer(saved)
    # What the export process does per batch of 512: the rebuild as SDK spans, the
    # official encoder, then the protobuf serialisation (not the HTTP POST).
    resources = [Resource.create({"service.name": "bench"})]
    scopes = [InstrumentationScope("a2a_mqtt", "bench")]
    limits = SpanLimits()
    start = time.process_time()
    for i in range(0, len(kept), 512):
        spans = [load_lean_span(row, resources, scopes, limits) for row in kept[i:i + 512]]
        encode_spans(spans).SerializePartialToString()
    encode_us = (time.process_time() - start) / 2000 * 1e6
    return {"spans_us": round(spans_us, 1), "encode_us": round(encode_us, 1)}
