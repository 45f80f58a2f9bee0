"""Trace context on HTTP headers: ASGI header lists in, header dicts out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import get_current_span

from a2a_mqtt.observability.propagation import context_from_headers, trace_headers

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_headers_in_any_case_name_the_parent_and_go_back_out_unchanged() -> None:
    ctx = context_from_headers([(b"host", b"x"), (b"TraceParent", TP.encode()),
                                (b"tracestate", b"k=v")])
    sc = get_current_span(ctx).get_span_context()
    assert sc.is_valid and sc.span_id == 0xB7AD6B7169203331
    assert trace_headers(ctx) == {"traceparent": TP, "tracestate": "k=v"}


def test_no_or_bad_headers_give_no_parent_and_no_headers() -> None:
    for headers in ([], [(b"traceparent", b"00-xyz-01")], [(b"traceparent", b"\xff\xfe")]):
        ctx = context_from_headers(headers)
        assert not get_current_span(ctx).get_span_context().is_valid
        assert trace_headers(ctx) == {}


@given(st.lists(st.tuples(st.sampled_from([b"traceparent", b"tracestate", b"x-other"]),
                          st.one_of(st.binary(max_size=80), st.just(TP.encode()))),
                max_size=6))
def test_any_header_list_decodes_without_error(headers: list[tuple[bytes, bytes]]) -> None:
    out = trace_headers(context_from_headers(headers))
    assert set(out) <= {"traceparent", "tracestate"}
    if out:
        assert len(out["traceparent"]) == 55
