"""The OTLP/HTTP span exporter tracing uses: protobuf bodies from :mod:`.otlp_encode`.

A ``SpanExporter`` (the SDK's public interface) that the export queue
(:mod:`.export_queue`) calls from its worker thread: it encodes a batch
(:func:`.otlp_encode.encode_spans`, a third of the exporter package's CPU) and
POSTs it over one kept-alive ``http.client`` connection. It reads the standard exporter variables
(:func:`ExportSettings.from_env`): headers, timeout, compression, and the TLS
certificate files. A failed POST is retried with backoff on the statuses OTLP
names retryable (429, 502, 503, 504) and on connection errors, within the timeout;
then the batch is dropped with one warning (spans never block the service).

Secrets: header values (often an ``Authorization``) are never logged.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import ssl
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.otlp_encode import encode_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["ExportSettings", "OtlpHttpSpanExporter", "parse_headers"]

log = logging.getLogger("a2a_mqtt.observability")

_RETRYABLE: Final = frozenset({429, 502, 503, 504})
_COMPRESSIONS: Final = frozenset({"none", "gzip", "deflate"})


def parse_headers(raw: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS``: ``key=value`` pairs separated by commas, values
    URL-encoded. A malformed pair is skipped (with a warning naming its key only)."""
    out: dict[str, str] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key = unquote(key).strip().lower()
        if not sep or not key:
            log.warning("OTLP header %r has no value; ignored", key or "?")
            continue
        out[key] = unquote(value).strip()
    return out


def _env(env: Mapping[str, str], name: str) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``."""
    return (env.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}", "").strip()
            or env.get(f"OTEL_EXPORTER_OTLP_{name}", "").strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportSettings:
    """How spans are sent (besides the endpoint, which :class:`TracingConfig` holds)."""

    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    compression: str = "none"
    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None

    def __post_init__(self) -> None:
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(f"OTLP compression {self.compression!r} is not one of "
                              f"{sorted(_COMPRESSIONS)}")
        if not self.timeout > 0:
            raise ConfigError(f"OTLP timeout {self.timeout} is not positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExportSettings:
        """The standard variables, ``TRACES_`` ones first: ``HEADERS``, ``TIMEOUT``
        (seconds, as the Python exporter reads it), ``COMPRESSION`` (gzip, deflate,
        none), ``CERTIFICATE``, ``CLIENT_CERTIFICATE``, ``CLIENT_KEY``."""
        env = os.environ if environ is None else environ
        raw_timeout = _env(env, "TIMEOUT") or "10"
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise ConfigError(f"OTEL_EXPORTER_OTLP_TIMEOUT {raw_timeout!r} is not a number"
                              ) from None
        return cls(headers=parse_headers(_env(env, "HEADERS")), timeout=timeout,
                   compression=(_env(env, "COMPRESSION") or "none").lower(),
                   certificate=_env(env, "CERTIFICATE") or None,
                   client_certificate=_env(env, "CLIENT_CERTIFICATE") or None,
                   client_key=_env(env, "CLIENT_KEY") or None)


class OtlpHttpSpanExporter(SpanExporter):
    """POSTs ``ExportTraceServiceRequest`` bodies to an OTLP/HTTP traces URL."""

    def __init__(self, endpoint: str, settings: ExportSettings | None = None) -> None:
        self._settings = settings = settings or ExportSettings()
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/x-protobuf", **settings.headers}
        if settings.compression != "none":
            self._headers["Content-Encoding"] = settings.compression
        self._tls: ssl.SSLContext | None = None
        if self._https:
            self._tls = ssl.create_default_context(cafile=settings.certificate)
            if settings.client_certificate:
                self._tls.load_cert_chain(settings.client_certificate, settings.client_key)
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()  # one POST at a time (worker thread and flushes)
        self._stopped = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped.is_set():
            return SpanExportResult.FAILURE
        body = encode_spans(spans)
        if self._settings.compression == "gzip":
            body = gzip.compress(body)
        elif self._settings.compression == "deflate":
            body = zlib.compress(body)
        deadline = time.monotonic() + self._settings.timeout
        delay = 0.5
        with self._lock:
            while True:
                outcome = self._post(body)
                if outcome is None:
                    return SpanExportResult.SUCCESS
                if (not outcome[1] or time.monotonic() + delay >= deadline
                        or self._stopped.wait(delay)):
                    log.warning("OTLP export of %d spans to %s failed: %s", len(spans),
                                self._host, outcome[0])
                    return SpanExportResult.FAILURE
                delay *= 2

    def _post(self, body: bytes) -> tuple[str, bool] | None:
        """None when the collector took the batch; else (why, retryable)."""
        timeout = self._settings.timeout
        try:
            conn = self._conn
            if conn is None:
                conn = self._conn = (
                    http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                                context=self._tls) if self._https
                    else http.client.HTTPConnection(self._host, self._port, timeout=timeout))
            conn.request("POST", self._path, body, self._headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._close()
            return f"{type(exc).__name__}: {exc}", True
        if response.will_close:
            self._close()
        if 200 <= response.status < 300:
            return None
        return f"HTTP {response.status}", response.status in _RETRYABLE

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # nothing buffered here: the batch processor holds the spans

    def shutdown(self) -> None:
        self._stopped.set()
        with self._lock:
            self._close()
