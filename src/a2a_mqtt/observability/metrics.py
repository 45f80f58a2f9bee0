"""Metrics: one OpenTelemetry MeterProvider per service, read by Prometheus and OTLP.

Instruments are created through the OTel metrics API from the definitions in
:mod:`a2a_mqtt.observability.names`, with the Prometheus reader (``/metrics``,
:meth:`Metrics.render`) and, when an endpoint is configured, an OTLP/HTTP push reader.
Where they live (docs/observability.md, "How metrics leave the process"):

* by default in the **metrics process** (:mod:`.metricsproc`, one per service process,
  :mod:`.metricschild`), like tracing's span export process: the SDK's recording and
  reading cost this process nothing. The service keeps only cheap accumulation:
  histogram observations are queued (:class:`Histogram`) and written to the process
  in one frame per :data:`BATCH` observations and before every collection; counters,
  up-down counters and gauges stay here (:class:`Sum`, :class:`Gauge`) and a
  snapshot goes along with every collection (a scrape: a round trip; an OTLP push:
  on this process's schedule, every ``otlp_interval``). Exemplars are not kept
  there (an observation is recorded away from its request's context);
* **in this process** (the code path of before: a ``MeterProvider`` here) when
  ``ObservabilityConfig.metrics_process`` is off, when the process cannot start, and
  for good from the moment it fails (one warning; the histogram observations it held
  are lost, everything else carries on).

What the service keeps, and why it is cheap on the request path, is
:mod:`.metricsrecord`'s (:class:`Sum`, :class:`Gauge`, :class:`Histogram`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from a2a_mqtt._version import __version__
from a2a_mqtt.observability import metricswire as wire
from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.metricschild import Channel, ChildGone, channel
from a2a_mqtt.observability.metricsproc import DURATION_BUCKETS, make_provider
from a2a_mqtt.observability.metricsrecord import (
    BATCH,
    Gauge,
    Histogram,
    Key,
    Reader,
    Sum,
    Taken,
    frames,
)
from a2a_mqtt.observability.names import Instrument
from a2a_mqtt.observability.tracing import spans_dropped

# BATCH, DURATION_BUCKETS, Histogram and Sum: re-exported, their import path of before.
__all__ = ["BATCH", "DURATION_BUCKETS", "Histogram", "Metrics", "Sum"]

log = logging.getLogger("a2a_mqtt.observability")

_DROP_TIMEOUT: Final = 30.0
"""Seconds a stopping service waits for its last push (the exporter's own timeout and
retries included)."""


def _spans_dropped() -> Iterable[tuple[Key, float]]:
    return [((), float(spans_dropped()))]


class Metrics:
    """A service's instruments and readers; ``render()`` is the Prometheus text.

    Two modes (see the module doc): the metrics process records (``_child`` is its
    channel), or this process does (``_provider``). The first is the default; the
    second when ``config.metrics_process`` is off, when no process can start, and for
    good from the moment the process fails (:meth:`_lost`).
    """

    def __init__(self, *, service: str, instance: str = "",
                 config: ObservabilityConfig | None = None) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        """The Prometheus reader's registry while this process records."""
        config = config or ObservabilityConfig()
        self._config = config
        self._instance = instance
        self._push = config.otlp_endpoint is not None
        self._hists: dict[str, Histogram] = {}
        self._sums: dict[str, Sum] = {}
        self._gauges: dict[str, Gauge] = {}
        self._closed = False
        self._provider: MeterProvider | None = None
        self._meter: Meter | None = None
        self._child: Channel | None = None
        self._mid = 0
        self._stop = threading.Event()
        if config.metrics_process:
            self._join_child()
        if self._child is None:
            self._record_here()
        # The process's tracing (one per process, tracing.py) reports its drops here:
        # a span lost before export shows on the dashboard, not only in a log line.
        self.gauge(N.TRACE_SPANS_DROPPED, _spans_dropped)

    # -- the two modes ------------------------------------------------------------------

    def _join_child(self) -> None:
        ch = channel()
        if ch is None:
            return
        config = self._config
        otlp = None if config.otlp_endpoint is None else {
            "endpoint": config.otlp_endpoint, "headers": dict(config.otlp_headers)}
        with ch.lock:
            self._mid = ch.next_id()
            try:  # the headers (an API key, say) travel through the pipe, never argv
                ch.write(wire.control("new", m=self._mid, service=self.service,
                                      instance=self._instance, version=__version__,
                                      otlp=otlp))
            except ChildGone as exc:
                ch.fail(exc)
                return
            self._child = ch
            ch.join(self)
        weakref.finalize(self, ch.dropped.append, self._mid)
        if self._push:
            ref = weakref.ref(self)
            stop, interval = self._stop, config.otlp_interval

            def tick() -> None:
                while not stop.wait(interval):
                    metrics = ref()
                    if metrics is None:
                        return
                    metrics._push_now()
                    del metrics

            threading.Thread(target=tick, name="a2a-mqtt-metrics-push", daemon=True).start()

    def _record_here(self, *, push: bool = True) -> None:
        """Create the provider, its readers (``push``: the OTLP one too, if configured)
        and every instrument so far, in this process."""
        config = self._config
        readers: list[MetricReader] = [PrometheusMetricReader(registry=self.registry)]
        if push and config.otlp_endpoint is not None:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
                OTLPMetricExporter,
            )

            exporter = OTLPMetricExporter(endpoint=config.otlp_endpoint,
                                          headers=dict(config.otlp_headers) or None)
            readers.append(PeriodicExportingMetricReader(
                exporter, export_interval_millis=config.otlp_interval * 1000))
        # Without a push, exemplars would cost each histogram record about a third more
        # inside a traced request, for nothing: the Prometheus reader drops them.
        self._provider = make_provider(service=self.service, instance=self._instance,
                                       version=__version__, readers=readers,
                                       exemplars=self._push)
        self._meter = self._provider.get_meter("a2a_mqtt", __version__)
        for acc in list(self._sums.values()):
            self._observe_here(acc.instrument, acc.observe)
        for gauge in list(self._gauges.values()):
            self._observe_here(gauge.instrument, gauge.observe)
        for hist in list(self._hists.values()):
            self._histogram_here(hist)

    def _observe_here(self, instrument: Instrument,
                      observe: Callable[[CallbackOptions], Iterable[Observation]]) -> None:
        assert self._meter is not None
        create = {"gauge": self._meter.create_observable_gauge,
                  "counter": self._meter.create_observable_counter,
                  "updown": self._meter.create_observable_up_down_counter}[instrument.kind]
        create(instrument.name, [observe], unit=instrument.unit,
               description=instrument.description)

    def _histogram_here(self, hist: Histogram) -> None:
        assert self._meter is not None
        instrument = hist.instrument
        # With an OTLP push, histograms record at once: an exemplar is taken in the
        # context of the request it measures.
        hist.record_with(self._meter.create_histogram(
            instrument.name, unit=instrument.unit, description=instrument.description,
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)),
            batched=not self._push)

    def _lost(self) -> None:
        """The metrics process is gone (its channel warned once), or is the parent's
        (after a fork): record here from now on. What is queued stays queued for the
        next hand-over, here (at once with a push: nothing else would hand it over)."""
        if self._child is None:
            return
        # The SDK's instruments exist before anyone can see ``_child`` None and record
        # through them.
        self._record_here(push=not self._closed)
        self._child = None
        if self._push:
            for hist in list(self._hists.values()):
                hist.record_here(hist.take())

    def _tell(self, data: bytes) -> None:
        """Write a definition to the metrics process, if one records."""
        ch = self._child
        if ch is None:
            return
        with ch.lock:
            if self._child is None:
                return
            try:
                ch.write(self._dropped(ch) + data)
            except ChildGone as exc:
                ch.fail(exc)

    @staticmethod
    def _dropped(ch: Channel) -> bytes:
        """``drop`` frames for ``Metrics`` collected since the last write (lock held)."""
        frames: list[bytes] = []
        while ch.dropped:  # popleft: a finalizer may append meanwhile, from any thread
            frames.append(wire.control("drop", m=ch.dropped.popleft(), answer=False))
        return b"".join(frames)

    def _definition(self, instrument: Instrument, role: str) -> bytes:
        return wire.control("inst", m=self._mid, name=instrument.name, kind=instrument.kind,
                            unit=instrument.unit, description=instrument.description,
                            attributes=list(instrument.attributes), role=role)

    # -- instruments ----------------------------------------------------------------------

    def sum(self, instrument: Instrument) -> Sum:
        """The accumulator of a counter or up-down counter (created once)."""
        found = self._sums.get(instrument.name)
        if found is not None:
            return found
        if instrument.kind not in ("counter", "updown"):
            raise ValueError(f"{instrument.name} is a {instrument.kind}, not a sum")
        acc = Sum(instrument)
        self._sums[instrument.name] = acc
        if self._child is not None:
            self._tell(self._definition(instrument, "obs"))
        else:
            self._observe_here(instrument, acc.observe)
        return acc

    def histogram(self, instrument: Instrument) -> Histogram:
        found = self._hists.get(instrument.name)
        if found is not None:
            return found
        if instrument.kind != "histogram":
            raise ValueError(f"{instrument.name} is a {instrument.kind}, not a histogram")
        hist = Histogram(instrument, self)
        self._hists[instrument.name] = hist
        if self._child is not None:
            self._tell(self._definition(instrument, "hist"))
        else:
            self._histogram_here(hist)
        return hist

    def gauge(self, instrument: Instrument, read: Reader) -> None:
        """Add ``read`` to an observable instrument (a gauge, or by kind an observable
        counter / up-down counter): each collection reports what every reader returns."""
        found = self._gauges.get(instrument.name)
        if found is not None:
            found.readers.append(read)
            return
        gauge = self._gauges[instrument.name] = Gauge(instrument, read)
        if self._child is not None:
            self._tell(self._definition(instrument, "obs"))
        else:
            self._observe_here(instrument, gauge.observe)

    def forget(self, read: Reader) -> None:
        """Remove a reader added with :meth:`gauge` (a stopped agent's, say)."""
        for gauge in self._gauges.values():
            if read in gauge.readers:
                gauge.readers.remove(read)

    @property
    def process_pid(self) -> int | None:
        """The pid of the metrics process recording for this service (None: in-process)."""
        ch = self._child
        return None if ch is None else ch.pid

    # -- hand-over and collection ---------------------------------------------------------

    def _hand_over(self, hists: Iterable[Histogram]) -> None:
        """Hand the queued observations of ``hists`` over: in one write to the metrics
        process, taken under its lock (so a collection asked for after this sees them),
        or to the SDK here."""
        ch = self._child
        if ch is None:
            for hist in hists:
                hist.record_here(hist.take())
            return
        with ch.lock:
            if self._child is None:  # it failed while this thread waited: record here
                for hist in hists:
                    hist.record_here(hist.take())
                return
            data, taken = frames(hists, mid=self._mid, next_id=ch.next_id)
            if not data:
                return
            try:
                ch.write(self._dropped(ch) + data)
            except ChildGone as exc:
                self._undelivered(ch, exc, taken)

    def _undelivered(self, ch: Channel, exc: ChildGone, taken: Taken) -> None:
        """The process failed with ``taken`` in hand: every member records here now, and
        these observations (older than any still queued) first."""
        ch.fail(exc)
        if self._child is not None:  # the channel had already let this member go
            self._lost()
        for hist, values in taken:
            hist.record_here(values)

    def flush(self) -> None:
        """Hand every queued histogram observation over (:meth:`render` does first)."""
        self._hand_over(list(self._hists.values()))

    def _snapshot(self) -> bytes:
        """The sums and gauges now, for the metrics process's observable instruments."""
        values: dict[str, list[tuple[list[str], float]]] = {}
        for name, acc in list(self._sums.items()):
            values[name] = [(list(k), v) for k, v in acc.items()]
        for name, gauge in list(self._gauges.items()):
            values[name] = [(list(k), v) for k, v in gauge.read()]
        return wire.control("snap", m=self._mid, values=values)

    def _collect(self, question: bytes, *, answer: bool, timeout: float | None = None
                 ) -> tuple[bool, bytes] | None:
        """Hand everything over, then ``question``: the metrics process's answer (when
        ``answer``), or None when none records for this service (any more)."""
        ch = self._child
        if ch is None:
            return None
        with ch.lock:
            if self._child is None:
                return None
            data, taken = frames(list(self._hists.values()), mid=self._mid,
                                 next_id=ch.next_id)
            try:
                data = self._dropped(ch) + data + self._snapshot() + question
                if answer:
                    return ch.ask(data, timeout)
                ch.write(data)
                return (True, b"")
            except ChildGone as exc:
                self._undelivered(ch, exc, taken)
                return None

    def render(self) -> tuple[bytes, str]:
        """The Prometheus exposition text and its content type.

        Everything observed before the call is in it: the queued histogram
        observations are handed over first, and the sums and gauges read now.
        """
        got = self._collect(wire.control("render", m=self._mid), answer=True)
        if got is not None:
            done, body = got
            if done:
                return body, CONTENT_TYPE_LATEST
            raise RuntimeError(f"the metrics process could not render: {body.decode()}")
        self.flush()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _push_now(self) -> None:
        """The push's schedule (a thread, every ``otlp_interval``): hand over, push."""
        self._collect(wire.control("push", m=self._mid), answer=False)

    def shutdown(self) -> None:
        """Flush the OTLP push (if any) and stop the readers; idempotent."""
        # Only the OTLP push has a thread to stop; the Prometheus reader stays usable, so
        # a service that is started again (servers are reusable) keeps its counts.
        if self._closed or not self._push:
            return
        self._closed = True
        self._stop.set()
        if self._child is not None:
            # A last push of everything, then the provider ends (its answer: pushed).
            got = self._collect(wire.control("drop", m=self._mid, answer=True), answer=True,
                                timeout=_DROP_TIMEOUT)
            if got is not None:
                # Dropped there: a render from now on is made here (no push), as a
                # stopped service's Prometheus reader stays usable.
                self._lost()
                return
        try:
            assert self._provider is not None
            self._provider.shutdown(timeout_millis=5_000)
        except Exception:
            log.exception("stopping the metrics readers failed")
