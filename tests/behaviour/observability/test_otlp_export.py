"""The span exporter against a real HTTP server: bodies, headers, compression, retries."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.otlp_export import (
    ExportSettings,
    OtlpHttpSpanExporter,
    parse_headers,
)


@dataclass
class Seen:
    statuses: list[int]  # what to answer, in turn (then 200)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)


@contextmanager
def receiver(*statuses: int) -> Iterator[tuple[str, Seen]]:
    seen = Seen(list(statuses))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector does

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.bodies.append(body)
            seen.headers.append({k.lower(): v for k, v in self.headers.items()})
            seen.connections.add(self.client_address[1])
            status = seen.statuses.pop(0) if seen.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test.otlp", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _spans(n: int) -> list[ReadableSpan]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

    kept: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            kept.extend(spans)  # type: ignore[call-overload]
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    for i in range(n):
        provider.get_tracer("t").start_span(f"s{i}", attributes={"i": i}).end()
    return kept


def _names(body: bytes) -> list[str]:
    req = ExportTraceServiceRequest.FromString(body)
    return [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]


def test_batches_arrive_parsed_with_headers_over_one_kept_alive_connection() -> None:
    with receiver() as (url, seen):
        exporter = OtlpHttpSpanExporter(url, ExportSettings(
            headers={"authorization": "Bearer s3cret", "x-tenant": "t1"}))
        assert exporter.export(_spans(3)) is SpanExportResult.SUCCESS
        assert exporter.export(_spans(2)) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert [_names(b) for b in seen.bodies] == [["s0", "s1", "s2"], ["s0", "s1"]]
    assert seen.headers[0]["content-type"] == "application/x-protobuf"
    assert seen.headers[0]["authorization"] == "Bearer s3cret"
    assert seen.headers[1]["x-tenant"] == "t1"
    assert len(seen.connections) == 1


def test_gzip_bodies() -> None:
    with receiver() as (url, seen):
        exporter = OtlpHttpSpanExporter(url, ExportSettings(compression="gzip"))
        assert exporter.export(_spans(2)) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert seen.headers[0]["content-encoding"] == "gzip"
    assert _names(gzip.decompress(seen.bodies[0])) == ["s0", "s1"]


def test_retryable_statuses_are_retried_and_others_are_not(
        caplog: pytest.LogCaptureFixture) -> None:
    with receiver(503, 429) as (url, seen):
        exporter = OtlpHttpSpanExporter(url, ExportSettings(timeout=5.0))
        assert exporter.export(_spans(1)) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert len(seen.bodies) == 3
    with receiver(400) as (url, seen):
        exporter = OtlpHttpSpanExporter(url, ExportSettings(
            headers={"authorization": "Bearer s3cret"}))
        assert exporter.export(_spans(1)) is SpanExportResult.FAILURE
        exporter.shutdown()
        assert len(seen.bodies) == 1
    assert "HTTP 400" in caplog.text
    assert "s3cret" not in caplog.text


def test_a_collector_that_is_down_fails_the_batch_within_the_timeout() -> None:
    with receiver() as (url, _seen):
        pass  # closed: nothing listens on the port any more
    exporter = OtlpHttpSpanExporter(url, ExportSettings(timeout=1.0))
    assert exporter.export(_spans(1)) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert exporter.export(_spans(1)) is SpanExportResult.FAILURE  # stopped: no more POSTs


def test_settings_from_the_standard_variables() -> None:
    s = ExportSettings.from_env({
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc, x-a = 1,broken",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "3", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "GZIP"})
    assert dict(s.headers) == {"authorization": "Bearer abc", "x-a": "1"}
    assert (s.timeout, s.compression) == (3.0, "gzip")
    assert "abc" not in repr(s)
    assert parse_headers("") == {}
    for bad in ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "x"},
                {"OTEL_EXPORTER_OTLP_TIMEOUT": "0"}):
        with pytest.raises(ConfigError):
            ExportSettings.from_env(bad)
