"""OTLP trace export bodies, written straight to protobuf bytes (pure: spans in, bytes out).

Why not the exporter package's encoder: it builds one protobuf object per span,
attribute and value, about 23 µs per span of this process's CPU (the batch
thread shares the GIL with the event loop), a large share of tracing's cost at
100 % sampling (docs/performance.md, "Tracing: what it costs"). The wire format
is small and stable (``opentelemetry/proto/trace/v1/trace.proto``,
``ExportTraceServiceRequest``), so this writes it directly from the public
``ReadableSpan`` properties (which :class:`~.spans.LeanSpan` has too), about
5 µs per span; attributes, which repeat (``rpc.system=a2a``, the topic, the
method), are encoded once and cached.

Invariant: the bytes parse (with ``opentelemetry-proto``) to the same message the
exporter package's ``encode_spans`` builds for the same spans; a hypothesis test
holds the two side by side (tests/unit/observability/test_otlp_encode.py).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import SpanKind, StatusCode

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Link
    from opentelemetry.util.types import Attributes

__all__ = ["encode_spans"]

_Q: Final = struct.Struct("<Q").pack
_D: Final = struct.Struct("<d").pack
_I: Final = struct.Struct("<I").pack
_U64: Final = (1 << 64) - 1
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
# Span.flags (fixed32): the parent's "is remote" is known; and it is remote.
_FLAGS_LOCAL: Final = b"\x85\x01" + _I(0x100)
_FLAGS_REMOTE: Final = b"\x85\x01" + _I(0x300)
_CACHE_MAX: Final = 4096
# Span.kind (OTLP numbers the API's kinds from 1) and Status.code (0 is not written).
_KIND: Final = {kind: b"\x30" + bytes((kind.value + 1,)) for kind in SpanKind}
_STATUS: Final = {code: b"\x18" + bytes((code.value,)) if code.value else b""
                  for code in StatusCode}


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: ``tag`` (pre-encoded), length, body."""
    return tag + _varint(len(body)) + body


def _text(tag: bytes, text: str) -> bytes:
    # "replace": a lone surrogate must not make the whole request invalid UTF-8.
    return _field(tag, text.encode("utf-8", "replace"))


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` body: one member of its oneof (always written, even when zero)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _text(b"\x0a", value)
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{value} does not fit an int64 attribute")
        return b"\x18" + _varint(value & _U64)
    if isinstance(value, float):
        return b"\x21" + _D(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), v))
                                        for k, v in value.items()))
    raise TypeError(f"attribute value of type {type(value).__name__} cannot be encoded")


def _key_value(key: str, value: Any) -> bytes:
    return _text(b"\x0a", key) + _field(b"\x12", _any_value(value))


_KV_CACHE: dict[tuple[bytes, str, type, Any], bytes] = {}


def _items(attributes: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """The pairs of a span's attributes. A span hands out a read-only view of the
    SDK's ``BoundedAttributes``, whose iteration runs in Python; its public ``copy()``
    (a plain dict) iterates at C speed."""
    if type(attributes) is dict:  # a LeanSpan's: read at its end, never changed after
        return attributes.items()
    copy = getattr(attributes, "copy", None)
    plain = copy() if copy is not None else attributes
    return plain.items() if isinstance(plain, dict) else list(attributes.items())


def _attributes(tag: bytes, attributes: Attributes) -> bytes:
    """Each attribute as a ``KeyValue`` field under ``tag``. Scalars are cached by
    (tag, key, type, value): ``True`` and ``1`` hash alike but encode differently."""
    if not attributes:
        return b""
    parts = []
    cache = _KV_CACHE
    for key, value in _items(attributes):
        if isinstance(value, str | bool | int | float):
            ck = (tag, key, type(value), value)
            kv = cache.get(ck)
            if kv is None:
                try:
                    kv = _field(tag, _key_value(key, value))
                except ValueError:
                    continue
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                cache[ck] = kv
        else:
            try:
                kv = _field(tag, _key_value(key, value))
            except (TypeError, ValueError):
                continue  # dropped, as the exporter package drops what it cannot encode
        parts.append(kv)
    return b"".join(parts)


_NAME_CACHE: dict[str, bytes] = {}


def _span(span: ReadableSpan) -> bytes:
    ctx = span.context
    assert ctx is not None  # an SDK span always has its context
    parts = [b"\x0a\x10", ctx.trace_id.to_bytes(16, "big"), b"\x12\x08",
             ctx.span_id.to_bytes(8, "big")]
    if ctx.trace_state:
        parts.append(_text(b"\x1a", ",".join(f"{k}={v}" for k, v in ctx.trace_state.items())))
    parent = span.parent
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    name = _NAME_CACHE.get(span.name)
    if name is None:
        name = _text(b"\x2a", span.name)
        if len(_NAME_CACHE) >= _CACHE_MAX:
            _NAME_CACHE.clear()
        _NAME_CACHE[span.name] = name
    parts += (name, _KIND[span.kind])
    if span.start_time:
        parts += (b"\x39", _Q(span.start_time))
    if span.end_time:
        parts += (b"\x41", _Q(span.end_time))
    parts.append(_attributes(b"\x4a", span.attributes))
    if span.dropped_attributes:
        parts += (b"\x50", _varint(span.dropped_attributes))
    for event in span.events:
        body = b"\x09" + _Q(event.timestamp) if event.timestamp else b""
        if event.name:
            body += _text(b"\x12", event.name)
        body += _attributes(b"\x1a", event.attributes)
        if event.dropped_attributes:
            body += b"\x20" + _varint(event.dropped_attributes)
        parts.append(_field(b"\x5a", body))
    if span.dropped_events:
        parts += (b"\x60", _varint(span.dropped_events))
    parts.extend(_link(link) for link in span.links)
    if span.dropped_links:
        parts += (b"\x70", _varint(span.dropped_links))
    status = span.status
    body = b""
    if status.description:
        body += _text(b"\x12", status.description)
    body += _STATUS[status.status_code]
    parts += (_field(b"\x7a", body),
              _FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
    return b"".join(parts)


def _link(link: Link) -> bytes:
    ctx = link.context
    body = (b"\x0a\x10" + ctx.trace_id.to_bytes(16, "big") + b"\x12\x08"
            + ctx.span_id.to_bytes(8, "big") + _attributes(b"\x22", link.attributes))
    if link.dropped_attributes:
        body += b"\x28" + _varint(link.dropped_attributes)
    body += b"\x35" + _I(0x300 if ctx.is_remote else 0x100)
    return _field(b"\x6a", body)


_HEAD_CACHE: dict[tuple[int, int], tuple[object, object, bytes, bytes]] = {}


def _heads(span: ReadableSpan) -> tuple[bytes, bytes]:
    """The encoded ``Resource`` field of a ResourceSpans and ``InstrumentationScope``
    field of a ScopeSpans; a process has one or two of each, so they are cached
    (keyed by identity, the objects kept alive so an id is never reused)."""
    resource, scope = span.resource, span.instrumentation_scope
    key = (id(resource), id(scope))
    hit = _HEAD_CACHE.get(key)
    if hit is not None and hit[0] is resource and hit[1] is scope:
        return hit[2], hit[3]
    res = _field(b"\x0a", _attributes(b"\x0a", resource.attributes))
    if scope is None:
        sc = b"\x0a\x00"
    else:
        body = _text(b"\x0a", scope.name) if scope.name else b""
        if scope.version:
            body += _text(b"\x12", scope.version)
        body += _attributes(b"\x1a", scope.attributes)
        sc = _field(b"\x0a", body)
    if len(_HEAD_CACHE) >= 64:
        _HEAD_CACHE.clear()
    _HEAD_CACHE[key] = (resource, scope, res, sc)
    return res, sc


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest``: spans grouped by resource, then by scope."""
    groups: dict[bytes, dict[bytes, list[bytes]]] = {}
    urls: dict[bytes, str] = {}
    scope_urls: dict[bytes, str] = {}
    for span in spans:
        res, sc = _heads(span)
        scopes = groups.get(res)
        if scopes is None:
            groups[res] = scopes = {}
            urls[res] = span.resource.schema_url
        body = scopes.get(sc)
        if body is None:
            scopes[sc] = body = []
            scope = span.instrumentation_scope
            scope_urls[sc] = (scope.schema_url if scope is not None else None) or ""
        body.append(_field(b"\x12", _span(span)))
    out = []
    for res, scopes in groups.items():
        parts = [res]
        for sc, encoded in scopes.items():
            tail = _text(b"\x1a", scope_urls[sc]) if scope_urls[sc] else b""
            parts.append(_field(b"\x12", sc + b"".join(encoded) + tail))
        if urls[res]:
            parts.append(_text(b"\x1a", urls[res]))
        out.append(_field(b"\x0a", b"".join(parts)))
    return b"".join(out)
