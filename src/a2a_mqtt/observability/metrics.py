"""Metrics: one OpenTelemetry MeterProvider per service, read by Prometheus and OTLP.

Instruments are created through the OTel metrics API from the definitions in
:mod:`a2a_mqtt.observability.names`. Two readers can be attached to the same
provider: the Prometheus reader (always; it fills a private prometheus-client
registry that :meth:`Metrics.render` serializes for ``/metrics``) and an OTLP/HTTP
push reader (when an endpoint is configured).

Cost on the request path (docs/observability.md, bench/observability_cost.py): the
SDK cleans and hashes the attribute dict on every synchronous call (~8 µs here).
Counters and up-down counters are therefore kept as plain sums keyed by the tuple of
attribute values (:class:`Sum`: one dict update per call) and reported through
observable instruments when a reader collects. Collection reads the sums with
``list(dict.items())``, a single C call under the GIL, so a reader thread (OTLP) sees
a consistent snapshot.

Histograms record through the OTel API's synchronous ``Histogram.record``, one call
per observation, with their attribute dicts resolved once per key. Without an OTLP
push those calls are made in batches (:class:`Histogram`): an observation is queued
(a float appended to its key's deque) and the queues are handed to the SDK after
:data:`BATCH` observations and before every collection (the Prometheus reader, the
only one then, is read only through :meth:`Metrics.render`, which flushes first), so
every collection sees every observation made before it, exactly as if recorded at
once. A batch runs the SDK's code back to back, hot in the CPU's
caches, instead of once per request among the request's own work (measured in
docs/performance.md, "Observability: what metrics cost"). With an OTLP push, where
exemplars link a bucket to the trace being measured, histograms record at once: the
exemplar must be taken in the request's own context.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.metrics import Histogram as OtelHistogram
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from a2a_mqtt._version import __version__
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.names import Instrument
from a2a_mqtt.observability.tracing import spans_dropped

__all__ = ["BATCH", "DURATION_BUCKETS", "Histogram", "Metrics", "Sum"]

log = logging.getLogger("a2a_mqtt.observability")

DURATION_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                           1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds; from sub-millisecond MQTT round trips to long agent turns."""

BATCH: Final = 128
"""Queued histogram observations handed to the SDK at once (bounds the queue and the
pause a batch makes: about 1 ms of the loop's time here)."""

Key = tuple[str, ...]
Attributes = dict[str, AttributeValue]


class _Attrs:
    """Attribute dicts resolved once per key tuple (keys in ``names`` order)."""

    __slots__ = ("_cache", "_keys")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = keys
        self._cache: dict[Key, Attributes] = {}

    def __call__(self, key: Key) -> Attributes:
        found = self._cache.get(key)
        if found is None:
            if len(key) != len(self._keys):
                raise ValueError(f"expected values for {self._keys}, got {key}")
            found = self._cache[key] = dict(zip(self._keys, key, strict=True))
        return found


class Sum:
    """A counter or up-down counter kept as plain sums; reported when collected."""

    __slots__ = ("_attrs", "_values", "instrument")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._attrs = _Attrs(instrument.attributes)
        self._values: dict[Key, float] = {}

    def add(self, key: Key, value: float = 1) -> None:
        values = self._values
        values[key] = values.get(key, 0) + value

    def value(self, key: Key) -> float:
        return self._values.get(key, 0)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, self._attrs(k)) for k, v in list(self._values.items())]


class Histogram:
    """A synchronous OTel histogram with attribute dicts resolved once per key.

    ``batched``: observations wait in a queue per key until :data:`BATCH` of them were
    made or the service is scraped (:meth:`flush`); each is then recorded through the OTel
    API as it would have been at once (a key's observations in their order, so its
    sum is the same float). The queues hold bare floats, which the cyclic collector
    never tracks: queued tuples would be promoted through its generations while they
    wait, and make its full collections come sooner. Each queue is a deque: ``append``
    (the event loop) and ``popleft`` (the loop, or a thread scraping) are atomic, so no
    observation is lost or recorded twice.
    """

    __slots__ = ("_attrs", "_batched", "_hist", "_pending", "_since", "instrument")

    def __init__(self, instrument: Instrument, hist: OtelHistogram, *,
                 batched: bool = True) -> None:
        self.instrument = instrument
        self._hist = hist
        self._attrs = _Attrs(instrument.attributes)
        self._batched = batched
        self._pending: dict[Key, deque[float]] = {}
        self._since = 0
        """Observations since the last flush made here (the recording thread's count:
        what is queued is never more, so the queue stays under BATCH)."""

    def record(self, key: Key, value: float) -> None:
        if not self._batched:
            self._hist.record(value, self._attrs(key))
            return
        queue = self._pending.get(key)
        if queue is None:
            self._attrs(key)  # a key of the wrong length fails here, at its first use
            queue = self._pending.setdefault(key, deque())
        queue.append(value)
        self._since += 1
        if self._since >= BATCH:
            self._since = 0
            self.flush()

    def queued(self) -> int:
        """Observations not yet handed to the SDK (fewer than :data:`BATCH`)."""
        return sum(len(queue) for queue in list(self._pending.values()))

    def flush(self) -> None:
        """Record every queued observation through the OTel API."""
        record = self._hist.record
        for key, queue in list(self._pending.items()):
            attrs = self._attrs(key)
            for _ in range(len(queue)):  # bounded: what is queued now (more may arrive)
                try:
                    value = queue.popleft()
                except IndexError:  # another thread flushed it first
                    break
                record(value, attrs)


def _spans_dropped() -> Iterable[tuple[Key, float]]:
    return [((), float(spans_dropped()))]


class Metrics:
    """A service's instruments and readers; ``render()`` is the Prometheus text."""

    def __init__(self, *, service: str, instance: str = "",
                 config: ObservabilityConfig | None = None) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self._hists: dict[str, Histogram] = {}
        readers: list[MetricReader] = [PrometheusMetricReader(registry=self.registry)]
        config = config or ObservabilityConfig()
        if config.otlp_endpoint is not None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
                OTLPMetricExporter,
            )

            exporter = OTLPMetricExporter(endpoint=config.otlp_endpoint,
                                          headers=dict(config.otlp_headers) or None)
            readers.append(PeriodicExportingMetricReader(
                exporter, export_interval_millis=config.otlp_interval * 1000))
        attrs: dict[str, AttributeValue] = {"service.name": f"a2a-mqtt-{service}",
                                            "service.version": __version__}
        if instance:
            attrs["service.instance.id"] = instance
        # No atexit hook: it would keep every provider (and its series) alive for the
        # life of the process; the owning service calls shutdown() instead.
        # Exemplars (a sampled span's ids kept beside a histogram bucket) leave only
        # through OTLP: the Prometheus reader drops them. Without a push they would cost
        # each histogram record about a third more inside a traced request, for nothing.
        self._provider = MeterProvider(
            metric_readers=readers, resource=Resource.create(attrs), shutdown_on_exit=False,
            exemplar_filter=None if config.otlp_endpoint is not None
            else AlwaysOffExemplarFilter())
        self._meter = self._provider.get_meter("a2a_mqtt", __version__)
        self._sums: dict[str, Sum] = {}
        self._readers: dict[str, list[Callable[[], Iterable[tuple[Key, float]]]]] = {}
        self._closed = False
        self._push = config.otlp_endpoint is not None
        # The process's tracing (one per process, tracing.py) reports its drops here:
        # a span lost before export shows on the dashboard, not only in a log line.
        self.gauge(N.TRACE_SPANS_DROPPED, _spans_dropped)

    def sum(self, instrument: Instrument) -> Sum:
        """The accumulator of a counter or up-down counter (created once)."""
        found = self._sums.get(instrument.name)
        if found is not None:
            return found
        acc = Sum(instrument)
        if instrument.kind == "counter":
            self._meter.create_observable_counter(
                instrument.name, [acc.observe], unit=instrument.unit,
                description=instrument.description)
        elif instrument.kind == "updown":
            self._meter.create_observable_up_down_counter(
                instrument.name, [acc.observe], unit=instrument.unit,
                description=instrument.description)
        else:
            raise ValueError(f"{instrument.name} is a {instrument.kind}, not a sum")
        self._sums[instrument.name] = acc
        return acc

    def histogram(self, instrument: Instrument) -> Histogram:
        found = self._hists.get(instrument.name)
        if found is not None:
            return found
        if instrument.kind != "histogram":
            raise ValueError(f"{instrument.name} is a {instrument.kind}, not a histogram")
        hist = Histogram(instrument, self._meter.create_histogram(
            instrument.name, unit=instrument.unit, description=instrument.description,
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)), batched=not self._push)
        self._hists[instrument.name] = hist
        return hist

    def gauge(self, instrument: Instrument,
              read: Callable[[], Iterable[tuple[Key, float]]]) -> None:
        """Add ``read`` to an observable instrument (a gauge, or by kind an observable
        counter / up-down counter): each collection reports what every reader returns."""
        readers = self._readers.get(instrument.name)
        if readers is not None:
            readers.append(read)
            return
        readers = self._readers[instrument.name] = [read]
        attrs = _Attrs(instrument.attributes)

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            out: list[Observation] = []
            for reader in list(readers):
                try:
                    out.extend(Observation(v, attrs(k)) for k, v in reader())
                except Exception:  # a failing reader must not break the whole scrape
                    log.exception("reading %s failed", instrument.name)
            return out

        create = {"gauge": self._meter.create_observable_gauge,
                  "counter": self._meter.create_observable_counter,
                  "updown": self._meter.create_observable_up_down_counter}[instrument.kind]
        create(instrument.name, [observe], unit=instrument.unit,
               description=instrument.description)

    def forget(self, read: Callable[[], Iterable[tuple[Key, float]]]) -> None:
        """Remove a reader added with :meth:`gauge` (a stopped agent's, say)."""
        for readers in self._readers.values():
            if read in readers:
                readers.remove(read)

    def flush(self) -> None:
        """Hand every queued histogram observation to the SDK (:meth:`render` does first)."""
        for hist in list(self._hists.values()):
            hist.flush()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus exposition text and its content type.

        The only way the Prometheus reader is read (``registry`` is this method's): it
        flushes the queued histogram observations first, so the text has them all.
        """
        self.flush()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def shutdown(self) -> None:
        """Flush the OTLP push (if any) and stop the readers; idempotent."""
        # Only the OTLP push has a thread to stop; the Prometheus reader stays usable, so
        # a service that is started again (servers are reusable) keeps its counts.
        if self._closed or not self._push:
            return
        self._closed = True
        try:
            self._provider.shutdown(timeout_millis=5_000)
        except Exception:
            log.exception("stopping the metrics readers failed")
