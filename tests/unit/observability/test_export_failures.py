"""The export process's handling of spans it cannot rebuild: each fails alone, and one
bad batch gives one traceback and a count, not a traceback per span."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanKind

from a2a_mqtt.observability.exportproc import Failures, _span
from a2a_mqtt.observability.leanspan import LeanTracer


class Kept:
    """The batch processor's place: what reaches ``on_end``."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def rows(n: int) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    tracer = LeanTracer(sampler=ParentBased(ALWAYS_ON), id_generator=RandomIdGenerator(),
                        limits=SpanLimits(), sink=out.append, parent_decides=True,
                        roots_sampled=True)
    for i in range(n):
        tracer.start_below(f"s{i}", SpanKind.SERVER, {"i": i}, INVALID_SPAN_CONTEXT).end()
    return out


def test_a_bad_batch_logs_one_traceback_then_counts(caplog: pytest.LogCaptureFixture) -> None:
    resources = {0: Resource.create({"service.name": "t"})}
    scopes = {0: InstrumentationScope("a2a_mqtt", "t")}
    good = rows(3)
    bad = [(*row[:-1], 7) for row in rows(150)]  # a scope index never registered
    kept, failures = Kept(), Failures()
    with caplog.at_level(logging.INFO, logger="a2a_mqtt.observability"):
        for row in [good[0], *bad[:64], good[1], *bad[64:], good[2]]:
            _span(kept, row, resources, scopes, SpanLimits(), failures=failures)
    assert [s.name for s in kept.spans] == ["s0", "s1", "s2"]  # each bad span fails alone
    assert failures.count == 150
    records = [r for r in caplog.records if r.name == "a2a_mqtt.observability"]
    assert [r.exc_info is not None for r in records] == [True, False, False]
    assert [r.getMessage() for r in records[1:]] == [
        "span export: 10 spans could not be handled so far",
        "span export: 100 spans could not be handled so far"]
