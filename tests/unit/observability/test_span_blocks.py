"""The span blocks (tracing.span, client_span, server_span) on the SDK's tracer."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
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
from tests.unit.observability.ended import Ended


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
    assert server.parent.is_remote and server.parent.trace_flags.sampled
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


def test_the_executor_under_a_parent_not_sampled_runs_in_its_context_without_a_span() -> None:
    import asyncio

    from a2a.server.agent_execution import AgentExecutor

    from a2a_mqtt.observability.executor import TracedExecutor

    seen: list[int] = []

    class Inner(AgentExecutor):
        async def execute(self, context: Any, event_queue: Any) -> None:
            seen.append(get_current_span().get_span_context().span_id)

        async def cancel(self, context: Any, event_queue: Any) -> None:
            raise NotImplementedError

    class Request:
        task_id = "t1"

    tracer, q = sdk_tracer()
    saved = tracing.use_tracer(tracer)
    try:
        traced = TracedExecutor(Inner())
        with tracing.server_span([("traceparent", f"00-{5:032x}-{6:016x}-00")], "t"):
            assert not tracing.records_below()
            asyncio.run(traced.execute(Request(), None))  # type: ignore[arg-type]
        assert seen == [6] and q.ended == []
        with tracing.server_span([("traceparent", f"00-{5:032x}-{6:016x}-01")], "t") as s:
            assert s is not None and tracing.records_below()
            asyncio.run(traced.execute(Request(), None))  # type: ignore[arg-type]
    finally:
        tracing.use_tracer(saved)
    run, server = q.ended
    assert (run.name, run.kind, seen[1]) == ("a2a/execute", SpanKind.INTERNAL, run.context.span_id)
    assert run.parent is not None and run.parent.span_id == server.context.span_id
    assert dict(run.attributes or {}) == {"a2a.task.id": "t1", "a2a.executor": "Inner"}
