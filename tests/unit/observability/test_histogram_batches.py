"""Histogram observations queued and handed to the SDK in batches: every collection
sees exactly what was recorded before it, whatever the count and the interleaving."""

from __future__ import annotations

import math
import threading
from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from a2a_mqtt.observability import names as N
from a2a_mqtt.observability.metrics import DURATION_BUCKETS, Metrics
from a2a_mqtt.observability.metricsrecord import BATCH

KEYS = [("o/u/a", "a2a", "SendMessage", "ok"), ("o/u/a", "a2a", "GetTask", "error"),
        ("o/u/b", "a2a", "other", "no_reply")]
DURATION = "rpc_server_call_duration_seconds"


def _samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {(("__name__", s.name), *sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(metrics.render()[0].decode())
            for s in f.samples if s.name == name}


def _by_method(metrics: Metrics, suffix: str) -> dict[str, float]:
    return {dict(k)["rpc_method"]: v
            for k, v in _samples(metrics, DURATION + suffix).items()}


OBSERVATIONS = st.lists(st.tuples(st.integers(0, len(KEYS) - 1),
                                  st.floats(0, 400, allow_nan=False)),
                        max_size=3 * BATCH + 7)


@settings(deadline=None, max_examples=40)  # a Metrics per example
@given(first=OBSERVATIONS, second=OBSERVATIONS)
def test_every_collection_sees_every_observation_before_it(
        first: list[tuple[int, float]], second: list[tuple[int, float]]) -> None:
    metrics = Metrics(service="t")
    hist = metrics.histogram(N.SERVER_DURATION)
    seen: list[tuple[int, float]] = []
    for batch in (first, second):  # two collections: counts are cumulative
        for index, value in batch:
            hist.record(KEYS[index], value)
        seen += batch
        assert hist.queued() < BATCH
        counts, sums = _by_method(metrics, "_count"), _by_method(metrics, "_sum")
        assert hist.queued() == 0  # the collection flushed the queue
        for index, key in enumerate(KEYS):
            values = [v for i, v in seen if i == index]
            assert counts.get(key[2], 0) == len(values)
            assert math.isclose(sums.get(key[2], 0.0), math.fsum(values),
                                rel_tol=1e-9, abs_tol=1e-9)
        # Buckets: the SDK's own boundaries, filled as if each value had been recorded
        # at once (cumulative in the exposition, so check the first key's finite buckets).
        buckets = {float(dict(k)["le"]): v
                   for k, v in _samples(metrics, DURATION + "_bucket").items()
                   if dict(k)["rpc_method"] == KEYS[0][2]}
        values = [v for i, v in seen if i == 0]
        for n, bound in enumerate(DURATION_BUCKETS):
            expected = sum(1 for v in values if bisect_left(DURATION_BUCKETS, v) <= n)
            assert buckets.get(bound, 0) == expected


def test_the_queue_is_handed_over_at_batch_size_without_a_collection() -> None:
    metrics = Metrics(service="t")
    hist = metrics.histogram(N.SERVER_SLOT_WAIT)
    for n in range(1, 2 * BATCH + 1):
        hist.record(("o/u/a",), 0.001)
        assert hist.queued() == n % BATCH  # bounded: never BATCH waiting


def test_a_collecting_thread_loses_nor_doubles_nothing() -> None:
    """A scrape rendered on another thread while the loop records."""
    metrics = Metrics(service="t")
    hist = metrics.histogram(N.TRANSPORT_PUBLISH_ACK)
    total = 20 * BATCH + 3
    done = threading.Event()

    def collect() -> None:
        for _ in range(10_000):  # bounded; ends when the recorder is done
            metrics.render()
            if done.is_set():
                return

    reader = threading.Thread(target=collect)
    reader.start()
    try:
        for _ in range(total):
            hist.record(("mqtt",), 0.002)
    finally:
        done.set()
        reader.join(timeout=30)
    assert not reader.is_alive()
    counts = _samples(metrics, "messaging_publish_duration_seconds_count")
    assert list(counts.values()) == [total]
