"""The metrics process: ``python -m a2a_mqtt.observability.metricsproc``.

Started by :mod:`.metricschild` (one per service process, shared by its
:class:`~a2a_mqtt.observability.metrics.Metrics`), which owns its stdin and stdout.
It owns what the OpenTelemetry SDK does for metrics: one ``MeterProvider`` per
service (``new``), its instruments created through the OTel metrics API from the
service's definitions (``inst``: :mod:`.names`' rows), the Prometheus reader and, when
the service pushes, an OTLP/HTTP reader. Messages (:mod:`.metricswire`):

* histogram observations (``H``) are recorded through ``Histogram.record`` with their
  key's attributes (``key`` names them once), one call per observation, in order: the
  counts, sums and buckets are those in-process recording would give;
* ``snap`` replaces a service's sums and gauges (the service keeps them; its
  observable instruments here report the last snapshot);
* ``render`` answers the Prometheus text; ``push`` exports over OTLP now (the
  service's schedule: the reader's own interval is infinite); ``drop`` ends a
  provider (a last push) and answers when done.

Pushes and drops run on one export thread, so a slow collector never stops the
reading of the pipe. Failure rules: a message that cannot be handled is logged and
skipped; a stream that is no longer framed (a frame cut short by end of input, or an
impossible length) is logged as an error and ends the process with status 3 (the
service then records in-process). End of input (the service's stop, or its death)
drops every provider and ends the process. Like the span export process it ignores
SIGINT and SIGTERM and stays in the service's process group.
"""

from __future__ import annotations

import logging
import math
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any, Final

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.metrics import Histogram as OtelHistogram
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, generate_latest

from a2a_mqtt.observability.childmain import run_child
from a2a_mqtt.observability.metricswire import (
    HEADER,
    MAX_FRAME,
    Batch,
    Control,
    WireError,
    decode,
    reply,
)

__all__ = ["DURATION_BUCKETS", "Service", "Services", "serve"]

log = logging.getLogger("a2a_mqtt.observability")

DURATION_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                           1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds; from sub-millisecond MQTT round trips to long agent turns (the service's
``metrics.DURATION_BUCKETS`` is this tuple)."""

Attributes = dict[str, AttributeValue]


def make_provider(*, service: str, instance: str, version: str,
                  readers: list[MetricReader], exemplars: bool) -> MeterProvider:
    """A service's provider, in process or in the metrics process alike."""
    attrs: Attributes = {"service.name": f"a2a-mqtt-{service}", "service.version": version}
    if instance:
        attrs["service.instance.id"] = instance
    # No atexit hook: it would keep every provider (and its series) alive for the
    # life of the process; the owner calls shutdown() instead. Exemplars (a sampled
    # span's ids beside a histogram bucket) leave only through OTLP, and only where the
    # observation is made in its request's context.
    return MeterProvider(metric_readers=readers, resource=Resource.create(attrs),
                         shutdown_on_exit=False,
                         exemplar_filter=None if exemplars else AlwaysOffExemplarFilter())


@dataclass(slots=True, kw_only=True)
class Service:
    """One service process's ``Metrics``: its provider, readers and last snapshot."""

    provider: MeterProvider
    meter: Meter
    registry: CollectorRegistry
    push: PeriodicExportingMetricReader | None
    hists: dict[str, tuple[OtelHistogram, tuple[str, ...]]] = field(default_factory=dict)
    observed: set[str] = field(default_factory=set)
    values: dict[str, list[Any]] = field(default_factory=dict)

    def observe(self, name: str, keys: tuple[str, ...]
                ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def read(_options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value, dict(zip(keys, key, strict=True)))
                    for key, value in self.values.get(name, ())]
        return read


class Services:
    """Every provider of the process, driven by the messages (see the module doc)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._services: dict[int, Service] = {}
        self._keys: dict[int, tuple[OtelHistogram, Attributes]] = {}
        self._exports: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._exporter = threading.Thread(target=self._export_loop,
                                          name="a2a-mqtt-metrics-export", daemon=True)
        self._exporter.start()
        self._out_lock = threading.Lock()

    def handle(self, message: Control | Batch) -> None:
        if isinstance(message, Batch):
            keys = self._keys
            for key, values in message.records:
                found = keys.get(key)
                if found is None:
                    raise WireError(f"observations for unknown key {key}")
                hist, attrs = found
                record = hist.record
                for value in values:
                    record(value, attrs)
            return
        getattr(self, "_" + message.op)(**message.fields)

    def close(self) -> None:
        """Drop every provider (a last push each), then end the export thread."""
        for mid in list(self._services):
            self._drop(m=mid, answer=False)
        self._exports.put(None)
        self._exporter.join(timeout=30)

    # -- ops ------------------------------------------------------------------------

    def _new(self, *, m: int, service: str, instance: str, version: str,
             otlp: dict[str, Any] | None) -> None:
        registry = CollectorRegistry(auto_describe=True)
        readers: list[MetricReader] = [PrometheusMetricReader(registry=registry)]
        push = None
        if otlp is not None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
                OTLPMetricExporter,
            )

            push = PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=str(otlp["endpoint"]),
                                   headers=dict(otlp.get("headers") or {}) or None),
                export_interval_millis=math.inf)  # the service says when (``push``)
            readers.append(push)
        provider = make_provider(service=service, instance=instance, version=version,
                                 readers=readers, exemplars=False)
        # The scope is the service's own (name and version), as in-process recording has it.
        self._services[m] = Service(provider=provider, meter=provider.get_meter(
            "a2a_mqtt", version), registry=registry, push=push)

    def _inst(self, *, m: int, name: str, kind: str, unit: str, description: str,
              attributes: list[str], role: str) -> None:
        svc = self._services[m]
        meter = svc.meter
        keys = tuple(attributes)
        if role == "hist":
            if name not in svc.hists:
                svc.hists[name] = (meter.create_histogram(
                    name, unit=unit, description=description,
                    explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)), keys)
            return
        if name in svc.observed:
            return
        create = {"gauge": meter.create_observable_gauge,
                  "counter": meter.create_observable_counter,
                  "updown": meter.create_observable_up_down_counter}[kind]
        create(name, [svc.observe(name, keys)], unit=unit, description=description)
        svc.observed.add(name)

    def _key(self, *, k: int, m: int, name: str, key: list[str]) -> None:
        hist, keys = self._services[m].hists[name]
        if len(key) != len(keys):
            raise WireError(f"{name}: expected values for {keys}, got {key}")
        self._keys[k] = (hist, dict(zip(keys, key, strict=True)))

    def _snap(self, *, m: int, values: dict[str, list[Any]]) -> None:
        svc = self._services[m]
        svc.values = {name: [(tuple(key), value) for key, value in rows]
                      for name, rows in values.items()}

    def _render(self, *, m: int) -> None:
        try:
            text = generate_latest(self._services[m].registry)
        except Exception as exc:
            self._answer(reply(False, f"{type(exc).__name__}: {exc}".encode()))
            raise
        self._answer(reply(True, text))

    def _push(self, *, m: int) -> None:
        push = self._services[m].push
        if push is not None:
            self._exports.put(lambda: None if push.force_flush() else log.warning(
                "metrics process: an OTLP push failed"))

    def _drop(self, *, m: int, answer: bool) -> None:
        """``answer``: the service waits for the end (its last push); a ``Metrics`` that
        was garbage-collected does not."""
        svc = self._services.pop(m, None)
        keys = self._keys
        if svc is not None:
            hists = {id(h) for h, _ in svc.hists.values()}
            for k in [k for k, (h, _) in keys.items() if id(h) in hists]:
                del keys[k]

        def stop() -> None:
            ok = True
            if svc is not None:
                try:
                    # The last push: a reader of infinite interval has no thread whose
                    # end would make it.
                    if svc.push is not None and not svc.push.force_flush(timeout_millis=20_000):
                        ok = False
                        log.warning("metrics process: the last OTLP push failed")
                    svc.provider.shutdown(timeout_millis=5_000)
                except Exception:
                    ok = False
                    log.exception("metrics process: stopping a provider failed")
            if answer:
                self._answer(reply(ok, b""))

        self._exports.put(stop)

    # -- the export thread and answers ------------------------------------------------

    def _export_loop(self) -> None:
        while (job := self._exports.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("metrics process: an export failed")

    def _answer(self, data: bytes) -> None:
        with self._out_lock:
            self._out.write(data)
            self._out.flush()


def _read(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes (None at end of input before the first; WireError within them)."""
    data = stream.read(size)
    if not data:
        return None
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            raise WireError(f"end of input {size - len(data)} bytes into a frame")
        data += more
    return data


def frames(stream: IO[bytes]) -> Iterable[bytes]:
    """Each frame's body until end of input (WireError: the stream is no longer framed)."""
    while (header := _read(stream, HEADER.size)) is not None:
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise WireError(f"a frame of {size} bytes (at most {MAX_FRAME})")
        body = _read(stream, size) if size else b""
        if body is None:
            raise WireError("end of input inside a frame")
        yield body


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    services = Services(stdout)
    status = 0
    try:
        for body in frames(stdin):
            try:
                services.handle(decode(body))
            except Exception:  # one bad message must never end the process
                log.exception("metrics process: a message could not be handled")
    except WireError as exc:
        # No traceback: the reason is the whole story.
        log.error("metrics process: the pipe is corrupt (%s); ending", exc)  # noqa: TRY400
        status = 3
    finally:
        services.close()
    return status


def main() -> int:
    return run_child(serve)


if __name__ == "__main__":
    sys.exit(main())
