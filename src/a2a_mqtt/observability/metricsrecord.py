"""What a service records on its request path: sums, gauges and histogram queues.

The accumulators behind :class:`~a2a_mqtt.observability.metrics.Metrics`, which
hands them to a backend (the metrics process, or the OTel SDK in this process) when
a reader collects (docs/observability.md, "How metrics leave the process"):

* :class:`Sum`: a counter or up-down counter, plain sums keyed by the tuple of
  attribute values;
* :class:`Gauge`: the readers of an observable instrument, read at each collection;
* :class:`Histogram`: observations queued per key and handed over in batches of
  :data:`BATCH` (:func:`frames` makes the metrics process's frames for them).

Cost on the request path (docs/performance.md, "Observability: what metrics cost"):
the SDK cleans and hashes the attribute dict on every synchronous call (~7 µs here),
which is why sums are plain dict updates keyed by the tuple of attribute values and
histograms a float appended to a deque; both are read with single C calls under the
GIL (``list(dict.items())``, ``deque.popleft``), so a collecting thread (a scrape,
the push) sees a consistent state and loses or doubles nothing.
"""

from __future__ import annotations

import logging
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final, Protocol, TypeAlias

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.metrics import Histogram as OtelHistogram
from opentelemetry.util.types import AttributeValue

from a2a_mqtt.observability import metricswire as wire
from a2a_mqtt.observability.names import Instrument

__all__ = ["BATCH", "Attrs", "Gauge", "Histogram", "Key", "Reader", "Sum", "Taken", "frames"]

log = logging.getLogger("a2a_mqtt.observability")

BATCH: Final = 128
"""Queued histogram observations handed over at once (bounds the queue, and the pause
a hand-over makes: one write of about 1 kB, or about 1 ms of the SDK here)."""

Key = tuple[str, ...]
Attributes = dict[str, AttributeValue]
Reader = Callable[[], Iterable[tuple[Key, float]]]
"""A gauge's reader: every key's value now."""


class Attrs:
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
        self._attrs = Attrs(instrument.attributes)
        self._values: dict[Key, float] = {}

    def add(self, key: Key, value: float = 1) -> None:
        values = self._values
        values[key] = values.get(key, 0) + value

    def value(self, key: Key) -> float:
        return self._values.get(key, 0)

    def items(self) -> list[tuple[Key, float]]:
        """Every key's sum now (one C call under the GIL: a consistent snapshot)."""
        return list(self._values.items())

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, self._attrs(k)) for k, v in list(self._values.items())]


class Gauge:
    """An observable instrument (a gauge, or by kind an observable counter / up-down
    counter) and its readers: each collection reports what every reader returns."""

    __slots__ = ("_attrs", "instrument", "readers")

    def __init__(self, instrument: Instrument, read: Reader) -> None:
        self.instrument = instrument
        self.readers = [read]
        self._attrs = Attrs(instrument.attributes)

    def read(self) -> list[tuple[Key, float]]:
        """What every reader returns now."""
        out: list[tuple[Key, float]] = []
        for reader in list(self.readers):
            try:
                out.extend(reader())
            except Exception:  # a failing reader must not break the whole scrape
                log.exception("reading %s failed", self.instrument.name)
        return out

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, self._attrs(k)) for k, v in self.read()]


class Owner(Protocol):
    """Who hands a histogram's queues over (``Metrics``)."""

    def _hand_over(self, hists: Iterable[Histogram]) -> None: ...


class Histogram:
    """A histogram's observations, queued per attribute key and recorded in batches.

    An observation is a bare float appended to its key's queue; after :data:`BATCH`
    observations, and before every collection (``Metrics.render``, the push), the
    queues are handed over (``Metrics._hand_over``): to the metrics process in one
    write, or to the OTel SDK's ``Histogram.record`` here, a key's observations in
    their order, so its sum is the same float. The queues hold bare floats, which the
    cyclic collector never tracks (queued tuples would be promoted through its
    generations while they wait). Each queue is a deque: ``append`` (the event loop)
    and ``popleft`` (the loop, or a thread scraping or pushing) are atomic, so no
    observation is lost or recorded twice. ``batched=False`` (in-process recording
    with an OTLP push, for exemplars): every observation is recorded at once.
    """

    __slots__ = ("_attrs", "_batched", "_hist", "_ids", "_owner", "_pending", "_since",
                 "instrument")

    def __init__(self, instrument: Instrument, owner: Owner, *, batched: bool = True) -> None:
        self.instrument = instrument
        self._owner = owner
        self._hist: OtelHistogram | None = None
        """The SDK's instrument here (None while the metrics process records)."""
        self._attrs = Attrs(instrument.attributes)
        self._batched = batched
        self._pending: dict[Key, deque[float]] = {}
        self._ids: dict[Key, int] = {}
        """The metrics process's id of each key (named to it once)."""
        self._since = 0
        """Observations since the last hand-over made here (the recording thread's count:
        what is queued is never more, so the queue stays under BATCH)."""

    def record_with(self, hist: OtelHistogram, *, batched: bool) -> None:
        """Record through the SDK's ``hist`` here from now on: at each hand-over
        (``batched``), or every observation at once."""
        self._hist = hist
        self._batched = batched

    def record(self, key: Key, value: float) -> None:
        if not self._batched:
            hist = self._hist
            if hist is not None:
                hist.record(value, self._attrs(key))
                return
        queue = self._pending.get(key)
        if queue is None:
            self._attrs(key)  # a key of the wrong length fails here, at its first use
            queue = self._pending.setdefault(key, deque())
        queue.append(value)
        self._since += 1
        if self._since >= BATCH:
            self._since = 0
            self._owner._hand_over((self,))

    def queued(self) -> int:
        """Observations not yet handed over (fewer than :data:`BATCH`)."""
        return sum(len(queue) for queue in list(self._pending.values()))

    def flush(self) -> None:
        """Hand every queued observation over (to the metrics process or the SDK)."""
        self._owner._hand_over((self,))

    def take(self) -> list[tuple[Key, array[float]]]:
        """What is queued now, per key (more may arrive meanwhile: it stays queued)."""
        taken: list[tuple[Key, array[float]]] = []
        for key, queue in list(self._pending.items()):
            popleft = queue.popleft
            values = array("d")
            append = values.append
            for _ in range(len(queue)):  # bounded: what is queued now (more may arrive)
                try:
                    append(popleft())
                except IndexError:  # another thread took it first
                    break
            if values:
                taken.append((key, values))
        return taken

    def record_here(self, taken: list[tuple[Key, array[float]]]) -> None:
        """Record observations :meth:`take` returned through the SDK, in this process."""
        hist = self._hist
        assert hist is not None
        record = hist.record
        for key, values in taken:
            attrs = self._attrs(key)
            for value in values:
                record(value, attrs)


Taken: TypeAlias = "list[tuple[Histogram, list[tuple[Key, array[float]]]]]"
"""What a hand-over took, per histogram (:meth:`Histogram.take`)."""


def frames(hists: Iterable[Histogram], *, mid: int, next_id: Callable[[], int]
           ) -> tuple[bytes, Taken]:
    """The metrics process's frames for what ``hists`` queue (key definitions first,
    each key's id from ``next_id`` the first time; ``mid`` the ``Metrics``' id) and
    what was taken for them; the channel's lock held."""
    defs: list[bytes] = []
    records: list[tuple[int, array[float]]] = []
    taken_all: Taken = []
    for hist in hists:
        taken = hist.take()
        if not taken:
            continue
        taken_all.append((hist, taken))
        ids = hist._ids
        for key, values in taken:
            kid = ids.get(key)
            if kid is None:
                kid = ids[key] = next_id()
                defs.append(wire.control("key", k=kid, m=mid,
                                         name=hist.instrument.name, key=list(key)))
            records.append((kid, values))
    if not records:
        return b"", taken_all
    return b"".join(defs) + wire.batch(records), taken_all
