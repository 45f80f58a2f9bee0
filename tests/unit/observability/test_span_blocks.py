"""The span blocks (tracing.span, client_span, server_span) on the SDK's tracer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

from a2a_mqtt.observability import tracing


class Ended(SpanProcessor):
    """Keeps every ended span (the SDK's public processor interface)."""

    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def sdk_tracer(ratio: float = 1.0) -> tuple[Any, Ended]:
    provider = TracerProvider(resource=Resource.create({"service.name": "t"}),
                              sampler=ParentBased(TraceIdRatioBased(ratio)))
    ended = Ended()
    provider.add_span_processor(ended)
    return provider.get_tracer("test"), ended


def test_span_blocks_nest_make_current_and_record_what_escapes() -> None:
    tracer, q = sdk_tracer()
    seen: list[Any] = []

    def nest() -> None:
        with tracing.span("outer", kind=SpanKind.SERVER, attributes={"k": "v"}) as outer:
            assert get_current_span() is outer
            with tracing.span("inner", kind=SpanKind.INTERNAL, current=False) as inner:
                assert get_current_span() is outer
            seen.extend([inner, outer])
            raise KeyError("x")

    saved = tracing.use_tracer(tracer)
    try:
        with pytest.raises(KeyError):
            nest()
    finally:
        tracing.use_tracer(saved)
    inner, outer = q.ended
    assert [inner.name, outer.name] == ["inner", "outer"]
    assert inner.parent == outer.get_span_context()
    assert dict(outer.attributes or {}) == {"k": "v"}
    assert outer.status.status_code is StatusCode.ERROR
    assert [e.name for e in outer.events] == ["exception"]


def test_client_and_server_spans_carry_the_attributes_given_at_start() -> None:
    tracer, q = sdk_tracer()
    saved = tracing.use_tracer(tracer)
    try:
        with tracing.client_span("SendMessage", "$a2a/v1/request/o/a") as c:
            assert c is not None and get_current_span() is not c
        with tracing.server_span([("traceparent", f"00-{7:032x}-{8:016x}-01")], "top"):
            tracing.name_request("GetTask")
    finally:
        tracing.use_tracer(saved)
    client, server = q.ended
    assert (client.name, client.kind) == ("a2a/SendMessage", SpanKind.CLIENT)
    assert dict(client.attributes or {}) == {
        "rpc.system": "a2a", "rpc.method": "SendMessage", "messaging.system": "mqtt",
        "messaging.destination.name": "$a2a/v1/request/o/a"}
    assert (server.name, server.kind) == ("a2a/GetTask", SpanKind.SERVER)
    assert server.parent is not None and server.parent.span_id == 8
    assert server.context is not None and server.context.trace_id == 7
    assert (server.attributes or {})["rpc.method"] == "GetTask"


def test_under_a_parent_not_sampled_no_span_is_made_and_its_context_carries_on() -> None:
    tracer, q = sdk_tracer()
    remote = NonRecordingSpan(SpanContext(trace_id=5, span_id=6, is_remote=True,
                                          trace_flags=TraceFlags(0)))
    saved = tracing.use_tracer(tracer)
    try:
        with tracing.server_span([("traceparent", f"00-{5:032x}-{6:016x}-00")], "t") as s:
            assert s is not None and not s.is_recording()
            assert get_current_span().get_span_context().span_id == 6
            with tracing.span("a2a/execute", kind=SpanKind.INTERNAL) as e, \
                    tracing.client_span("SendMessage", "t2") as c:
                assert e is not None and c is not None
                assert c.get_span_context().span_id == 6
        with tracing.span("x", kind=SpanKind.INTERNAL,
                          parent=set_span_in_context(remote)) as x:
            assert x is remote
    finally:
        tracing.use_tracer(saved)
    assert q.ended == []


def test_a_root_not_sampled_at_ratio_zero_records_nothing() -> None:
    tracer, q = sdk_tracer(0.0)
    saved = tracing.use_tracer(tracer)
    try:
        with tracing.client_span("SendMessage", "t") as c:
            assert c is not None and not c.is_recording()
            assert not c.get_span_context().trace_flags.sampled
    finally:
        tracing.use_tracer(saved)
    assert q.ended == []


def late_tracer(ratio: float = 1.0) -> tuple[Any, Ended, dict[str, Any]]:
    """A provider as configure_tracing builds it: its sampler and id generator."""
    from a2a_mqtt.observability.ids import ChosenIds
    from a2a_mqtt.observability.sampling import ParentRatioSampler

    sampler, ids = ParentRatioSampler(ratio), ChosenIds()
    provider = TracerProvider(resource=Resource.create({"service.name": "t"}),
                              sampler=sampler, id_generator=ids)
    ended = Ended()
    provider.add_span_processor(ended)
    return provider.get_tracer("test"), ended, {"ids": ids, "sampler": sampler}


@pytest.mark.parametrize("under", [None, "server"])
def test_a_late_client_span_is_the_one_its_traceparent_announced(under: str | None) -> None:
    from a2a_mqtt.binding.tracecontext import inject_span

    tracer, q, late = late_tracer()
    saved = tracing.use_tracer(tracer, **late)
    try:
        with tracing.span("outer", kind=SpanKind.SERVER) if under else _nothing():
            before = time.time_ns()
            with tracing.client_span("SendMessage", "$a2a/v1/request/o/a") as c:
                assert c is not None and get_current_span() is not c
                assert q.ended == []  # not made yet: only announced
                props = inject_span(c)
                with tracing.server_span(props, "$a2a/v1/request/o/a"):
                    tracing.name_request("SendMessage")
            after = time.time_ns()
    finally:
        tracing.use_tracer(saved)
    server, client = q.ended[0], q.ended[1]
    assert (client.name, client.kind) == ("a2a/SendMessage", SpanKind.CLIENT)
    assert client.context is not None and server.context is not None
    sent = props[0][1]
    assert sent == (f"00-{client.context.trace_id:032x}-{client.context.span_id:016x}-"
                    f"{int(client.context.trace_flags):02x}")
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert server.context.trace_id == client.context.trace_id
    assert client.start_time is not None and client.end_time is not None
    assert before <= client.start_time <= server.start_time <= client.end_time <= after
    assert dict(client.attributes or {}) == {
        "rpc.system": "a2a", "rpc.method": "SendMessage", "messaging.system": "mqtt",
        "messaging.destination.name": "$a2a/v1/request/o/a"}
    if under:
        (outer_span,) = q.ended[2:]
        assert client.parent == outer_span.get_span_context()
    else:
        assert client.parent is None


def test_a_late_client_span_records_what_escapes_and_spans_after_it_get_random_ids() -> None:
    tracer, q, late = late_tracer()
    saved = tracing.use_tracer(tracer, **late)
    try:
        with pytest.raises(TimeoutError), tracing.client_span("GetTask", "t"):
            raise TimeoutError("no reply")
        with tracing.span("next", kind=SpanKind.INTERNAL):
            pass
    finally:
        tracing.use_tracer(saved)
    client, following = q.ended
    assert client.status.status_code is StatusCode.ERROR
    assert [e.name for e in client.events] == ["exception"]
    assert client.context is not None and following.context is not None
    assert following.context.span_id != client.context.span_id
    assert following.context.trace_id != client.context.trace_id


def test_a_late_client_span_follows_its_sampler() -> None:
    tracer, q, late = late_tracer(0.0)
    saved = tracing.use_tracer(tracer, **late)
    try:
        with tracing.client_span("SendMessage", "t") as c:
            assert c is not None and not c.get_span_context().trace_flags.sampled
        with tracing.server_span([("traceparent", f"00-{5:032x}-{6:016x}-00")], "t"), \
                tracing.client_span("SendMessage", "t2") as c2:
            assert c2 is not None and c2.get_span_context().span_id == 6
    finally:
        tracing.use_tracer(saved)
    assert q.ended == []


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
