"""Distributed tracing: configuration, the process's tracer and the spans our code opens.

Off by default. :func:`configure_tracing` with an endpoint installs an SDK
``TracerProvider`` (sampler ``ParentBased(TraceIdRatioBased(ratio))``; the SDK's
``BatchSpanProcessor`` and the official OTLP/HTTP ``OTLPSpanExporter``, which run in
the export process, fed by :mod:`.childexport`, unless
``export_process=False``) for the whole process, and gives our own spans the lean
tracer of :mod:`.leanspan` (the same sampler, ids and limits; inline: the SDK's
tracer); until then :func:`span` yields None
after one global read, so an untraced process pays nothing more (no tracer lookups,
no context changes, no properties written).

Spans (docs/observability.md, Tracing): the requester's call (CLIENT), an
agent's handling of a request (SERVER) with the executor's run as its child
(INTERNAL), the gateway's HTTP request (SERVER) and ``expose``'s call to its
HTTP agent (CLIENT). Names are ``a2a/<method>``; attributes follow the
OpenTelemetry RPC and messaging conventions (``rpc.system=a2a``,
``rpc.method``, ``messaging.system=mqtt``, ``messaging.destination.name``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue

from a2a_mqtt.binding.tracecontext import RemoteIds, inject_span, remote_context, remote_ids
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.extras import missing_extra

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from a2a_mqtt.observability.childexport import ProcessSpanProcessor

__all__ = [
    "TracingConfig",
    "TracingHandle",
    "client_span",
    "configure_tracing",
    "mark_error",
    "name_request",
    "recording_parent",
    "records_below",
    "rpc_attributes",
    "server_span",
    "span",
    "span_properties",
    "spans_dropped",
    "tracer",
    "use_tracer",
]

log = logging.getLogger("a2a_mqtt.observability")

_TRACES_PATH: Final = "/v1/traces"
_RATIO_SAMPLERS: Final = frozenset({"traceidratio", "parentbased_traceidratio"})
_ON_SAMPLERS: Final = frozenset({"always_on", "parentbased_always_on"})
_OFF_SAMPLERS: Final = frozenset({"always_off", "parentbased_always_off"})


def _traces_url(base: str) -> str:
    """OTLP/HTTP's rule for a base endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``): traces
    go to ``<base>/v1/traces``; a URL already ending so is kept."""
    base = base.strip()
    return base if base.rstrip("/").endswith(_TRACES_PATH) else base.rstrip("/") + _TRACES_PATH


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """Where spans go and how many are kept; ``endpoint=None`` (the default) is off."""

    #: The OTLP/HTTP traces URL (``http://collector:4318/v1/traces``); None: no tracing.
    endpoint: str | None = None
    #: Fraction of new traces recorded (0..1); a request that arrives with a
    #: trace context follows its parent's decision instead.
    sample_ratio: float = 1.0
    service_name: str = "a2a-mqtt"
    #: Batch, encode and send spans in a child process (:mod:`.exportproc`), off this
    #: process's cores, GIL and heap; False: on the SDK's export thread here.
    export_process: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_ratio <= 1.0:
            raise ConfigError(f"trace sample ratio {self.sample_ratio} is not within 0..1")
        if self.endpoint is not None:
            try:
                parts = urlsplit(self.endpoint)
                ok = parts.scheme in ("http", "https") and bool(parts.hostname)
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"OTLP endpoint {self.endpoint!r} is not an http(s) URL")
        if not self.service_name.strip():
            raise ConfigError("the tracing service name is empty")

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, service_name: str,
                 endpoint: str | None = None, sample_ratio: float | None = None,
                 ) -> TracingConfig:
        """Flags (the keyword arguments; ``endpoint`` is a base URL like
        ``OTEL_EXPORTER_OTLP_ENDPOINT``) over the standard ``OTEL_*`` variables:
        ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is),
        ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER=none`` and
        ``OTEL_SDK_DISABLED=true`` (off unless a flag names an endpoint),
        ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_SERVICE_NAME``;
        and ``A2A_MQTT_TRACE_EXPORT=process|inline`` (:attr:`export_process`)."""
        env = os.environ if environ is None else environ
        url: str | None = _traces_url(endpoint) if endpoint else None
        disabled = (env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
                    or env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none")
        if url is None and not disabled:
            if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
                url = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].strip()
            elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
                url = _traces_url(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        ratio = sample_ratio if sample_ratio is not None else _env_ratio(env)
        name = env.get("OTEL_SERVICE_NAME", "").strip() or service_name
        where = env.get("A2A_MQTT_TRACE_EXPORT", "").strip().lower() or "process"
        if where not in ("process", "inline"):
            raise ConfigError(f"A2A_MQTT_TRACE_EXPORT {where!r} is neither process nor inline")
        return cls(endpoint=url, sample_ratio=ratio, service_name=name,
                   export_process=where == "process")


def _env_ratio(env: Mapping[str, str]) -> float:
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in _OFF_SAMPLERS:
        return 0.0
    if sampler in _RATIO_SAMPLERS:
        raw = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or "1.0"
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG {raw!r} is not a number") from None
    if sampler and sampler not in _ON_SAMPLERS:
        raise ConfigError(f"OTEL_TRACES_SAMPLER {sampler!r} is not supported; use "
                          "parentbased_traceidratio (with OTEL_TRACES_SAMPLER_ARG) or always_on")
    return 1.0


class TracingHandle:
    """The installed provider: :meth:`shutdown` exports what is buffered and stops.

    The provider also flushes at interpreter exit, so a service stopped by a
    signal loses no finished span."""

    def __init__(self, provider: TracerProvider, config: TracingConfig,
                 processor: ProcessSpanProcessor | None) -> None:
        self._provider = provider
        self.config = config
        self.processor = processor
        """The export process's span processor; None when spans export in-process."""

    def dropped(self) -> int:
        """Spans dropped before export so far: the export process's count (the SDK's
        in-process batch processor logs its drops but counts none in public)."""
        return self.processor.dropped if self.processor is not None else 0

    def force_flush(self, timeout_millis: int = 5_000) -> bool:
        return self._provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        global _TRACER, _HANDLE
        self._provider.shutdown()
        if _HANDLE is self:
            _TRACER, _HANDLE = None, None
            _start_below(None)


_TRACER: Tracer | None = None
_HANDLE: TracingHandle | None = None
Parent = SpanContext | Span
"""A parent for :func:`span`'s ``below``: a span context, or a span of the lean tracer's."""
_Below = Callable[[str, SpanKind, Mapping[str, AttributeValue] | None, Parent | RemoteIds],
                  Span]
_BELOW: _Below | None = None
"""The tracer's ``start_below`` (:meth:`.leanspan.LeanTracer.start_below`), if it has one."""
_OURS: type | None = None
"""The type of the spans ``start_below`` takes as parents as they are (``LeanSpan``)."""


def _start_below(new: Tracer | None) -> None:
    global _BELOW, _OURS  # noqa: PLW0603 - follows _TRACER
    _BELOW = getattr(new, "start_below", None)
    _OURS = getattr(new, "span_type", None)


def configure_tracing(config: TracingConfig) -> TracingHandle | None:
    """Turn tracing on for this process as ``config`` says; None when it says off.

    Every service calls it as it starts (with its config's ``tracing``), so the first
    service of a process that has tracing on sets it up. OpenTelemetry has one tracer
    provider per process: a later call returns the first handle (a different config is
    logged and ignored). Raises MissingExtraError without the ``tracing`` extra."""
    global _TRACER, _HANDLE  # noqa: PLW0603 - the process's one tracer
    endpoint = config.endpoint
    if endpoint is None:
        return None
    if _HANDLE is not None:
        if _HANDLE.config != config:
            log.warning("tracing is already configured (%s); %s ignored",
                        _HANDLE.config, config)
        return _HANDLE
    # The SDK and the exporter (the ``tracing`` extra) load only when tracing is on.
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator  # noqa: PLC0415
        from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415
            ALWAYS_ON,
            ParentBased,
            TraceIdRatioBased,
        )
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415
    except ImportError as exc:
        raise missing_extra(exc, extra="tracing") or exc from None

    from a2a_mqtt._version import __version__  # noqa: PLC0415
    from a2a_mqtt.observability.childexport import ProcessSpanProcessor  # noqa: PLC0415
    from a2a_mqtt.observability.leanspan import LeanTracer  # noqa: PLC0415

    # At 1.0 the ratio sampler would hash every trace id to keep them all.
    root = ALWAYS_ON if config.sample_ratio >= 1.0 else TraceIdRatioBased(config.sample_ratio)
    sampler, ids, limits = ParentBased(root), RandomIdGenerator(), SpanLimits()
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: config.service_name}), sampler=sampler,
        id_generator=ids, span_limits=limits)
    # The official encoder is the most expensive part of tracing (about 35 µs a span),
    # so by default it runs in the export process, on another core, with its own GIL,
    # behind the SDK's BatchSpanProcessor (OTEL_BSP_*: 512 spans a POST, 2048 queued,
    # 5 s); this process only streams each ended span to it (childexport.py: keeping
    # span objects until a batch leaves cost more in garbage collection than the
    # spans themselves). Inline, both run here on the processor's thread. Compression
    # is the exporter's (OTEL_EXPORTER_OTLP_COMPRESSION, none by default: on a
    # loopback or LAN collector gzip costs more CPU than the bytes it saves).
    processor = ProcessSpanProcessor(endpoint=endpoint) if config.export_process else None
    provider.add_span_processor(
        processor or BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    # The global provider (what a2a-sdk's own spans use, when on) can be set once per
    # process; a configure after a shutdown (tests, benchmarks) keeps the first one.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    # Our own spans: recorded by the lean tracer (leanspan.py: the API's Tracer, with
    # this provider's sampler, id generator, limits and resource) and handed to the
    # export process as rows, when spans export through it; inline (or with no export
    # process), the SDK's own tracer. Everything else (a2a-sdk's spans, a user's
    # instrumentation) uses the global provider, the SDK's, in the same traces.
    if processor is not None and not processor.exports_in_process:
        ri, si = processor.register(provider.resource, InstrumentationScope("a2a_mqtt",
                                                                            __version__))
        # The sampler built above: ParentBased with its default delegates.
        _TRACER = LeanTracer(sampler=sampler, id_generator=ids, limits=limits,
                             sink=processor.on_end_row, resource_index=ri, scope_index=si,
                             parent_decides=True, roots_sampled=root is ALWAYS_ON,
                             root_ratio=root if isinstance(root, TraceIdRatioBased) else None)
    else:
        _TRACER = provider.get_tracer("a2a_mqtt", __version__)
    _start_below(_TRACER)
    _HANDLE = TracingHandle(provider, config, processor)
    log.info("tracing on: %s, sample ratio %g, service %s, export %s", config.endpoint,
             config.sample_ratio, config.service_name,
             "in a child process" if config.export_process else "in-process")
    return _HANDLE


def spans_dropped() -> int:
    """Spans this process's tracing dropped before export (0 while tracing is off)."""
    handle = _HANDLE
    return handle.dropped() if handle is not None else 0


def tracer() -> Tracer | None:
    """This process's tracer, or None while tracing is off."""
    return _TRACER


def use_tracer(new: Tracer | None) -> Tracer | None:
    """Make ``new`` this process's tracer (None: off) and return the one before; for
    tests and benchmarks that bring their own provider. Services use
    :func:`configure_tracing`."""
    global _TRACER
    old, _TRACER = _TRACER, new
    _start_below(new)
    return old


def rpc_attributes(method: str, topic: str | None = None,
                   **extra: AttributeValue) -> dict[str, AttributeValue]:
    """The RPC (and, with ``topic``, messaging) attributes of an A2A call."""
    attrs: dict[str, AttributeValue] = {"rpc.system": "a2a", "rpc.method": method}
    if topic is not None:
        attrs["messaging.system"] = "mqtt"
        attrs["messaging.destination.name"] = topic
    attrs.update(extra)
    return attrs


class _Block:
    """The span of a ``with`` block (see :func:`span`). A class, not a generator
    context manager: this runs three times per traced request. ``known``: the parent,
    already looked up and sampled (or invalid: a new trace), instead of the span current
    in ``parent``: its span context, a lean span, or a remote parent's plain values
    (``remote_ids``)."""

    __slots__ = ("_attributes", "_current", "_kind", "_known", "_name", "_parent", "_span",
                 "_token")

    def __init__(self, name: str, kind: SpanKind, attributes: Mapping[str, AttributeValue] | None,
                 parent: Context | None, current: bool, *,
                 known: Parent | RemoteIds | None = None
                 ) -> None:
        self._name, self._kind, self._attributes = name, kind, attributes
        self._parent, self._current, self._known = parent, current, known
        self._span: Span | None = None
        self._token: object = None

    def __enter__(self) -> Span | None:
        t = _TRACER
        if t is None:
            return None
        sc = self._known
        if sc is None:
            above = trace.get_current_span(self._parent)
            sc = above.get_span_context()
            if sc.is_valid and not sc.trace_flags.sampled:
                # A trace its root chose not to record (ParentBased): nothing below
                # records either, so no span is made; the context stays the parent's,
                # whose traceparent (sampled flag off) travels on unchanged.
                if self._current and self._parent is not None:
                    self._token = attach(self._parent)
                return above
        below = _BELOW
        if below is not None:
            s = self._span = below(self._name, self._kind, self._attributes, sc)
        else:
            parent = self._parent
            if self._known is not None:  # else: the context it was found in
                if type(sc) is tuple:
                    sc = remote_context(sc)  # type: ignore[arg-type]
                elif not isinstance(sc, SpanContext):
                    sc = sc.get_span_context()  # type: ignore[union-attr]
                parent = (set_span_in_context(NonRecordingSpan(sc), Context()) if sc.is_valid
                          else Context())
            s = self._span = t.start_span(self._name, context=parent, kind=self._kind,
                                          attributes=self._attributes, record_exception=False,
                                          set_status_on_exception=False)
        # Attached only when asked: a span held across an async generator's yields must not
        # be made current, since its consumer would run (and detach) in another context.
        if self._current:
            self._token = attach(trace.set_span_in_context(s))
        return s

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if self._token is not None:
            detach(self._token)  # type: ignore[arg-type]
        s = self._span
        if s is None:
            return
        if isinstance(exc, Exception):
            s.record_exception(exc)
            s.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {str(exc)[:200]}"))
        s.end()


class _Carry:
    """The block of a request whose remote parent is not sampled (see :func:`server_span`):
    no span, the parent's context made current, so the trace context (sampled flag off)
    reaches every call below unchanged."""

    __slots__ = ("_context", "_span", "_token")

    def __init__(self, span: Span, context: Context) -> None:
        self._span, self._context = span, context
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = attach(self._context)
        return self._span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        detach(self._token)  # type: ignore[arg-type]


def span(name: str, *, kind: SpanKind, attributes: Mapping[str, AttributeValue] | None = None,
         parent: Context | None = None, current: bool = True,
         below: Parent | None = None) -> AbstractContextManager[Span | None]:
    """A span (None while tracing is off) around the block, a child of ``parent``
    (default: the current context); ``current`` makes it the current span inside the
    block. An exception escaping the block is recorded and sets the ERROR status.
    Under a parent that is not sampled no span is made: the block gets the parent.
    ``below``: the parent's span context as :func:`recording_parent` gave it (a
    lookup saved), instead of ``parent``. A dict given as ``attributes`` may be kept
    by the span as it is: never change it afterwards."""
    if _TRACER is None:
        return _NO_SPAN
    return _Block(name, kind, attributes, parent, current, known=below)


_NO_SPAN: Final = nullcontext(None)
_CACHE_MAX: Final = 1024
# Span names and attribute dicts per (method, topic) and per topic: built once,
# handed to every span (the tracer, the SDK's or the lean one, copies what it keeps;
# these are never mutated).
_CLIENT_ATTRS: dict[tuple[str, str], tuple[str, dict[str, AttributeValue]]] = {}
_SERVER_ATTRS: dict[str, dict[str, AttributeValue]] = {}
_NAMES: dict[str, str] = {}


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    """``cache``, emptied first when full (topics and methods come from the wire)."""
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    return cache


def client_span(method: str, topic: str) -> AbstractContextManager[Span | None]:
    """The requester's CLIENT span of one call (not made current); a shared no-op
    while tracing is off, so an untraced call builds no name and no attributes.
    The agent is not an attribute of its own: the topic names it, and every
    attribute costs the exporter's encoder time on every span."""
    if _TRACER is None:
        return _NO_SPAN
    key = (method, topic)
    hit = _CLIENT_ATTRS.get(key)
    if hit is None:
        hit = _bounded(_CLIENT_ATTRS)[key] = (f"a2a/{method}", rpc_attributes(method, topic))
    return _Block(hit[0], SpanKind.CLIENT, hit[1], None, False)


def server_span(user_properties: Sequence[tuple[str, str]], topic: str
                ) -> AbstractContextManager[Span | None]:
    """An agent's SERVER span for one request message, continuing the trace its
    ``traceparent`` names (else a new root); named ``a2a/<method>`` once the method is
    known (:func:`name_request`)."""
    if _TRACER is None:
        return _NO_SPAN
    attrs = _SERVER_ATTRS.get(topic)
    if attrs is None:
        attrs = _bounded(_SERVER_ATTRS)[topic] = {
            "rpc.system": "a2a", "messaging.system": "mqtt",
            "messaging.destination.name": topic}
    ids = remote_ids(user_properties)
    if ids is None:
        return _Block("a2a/request", SpanKind.SERVER, attrs, None, True,
                      known=INVALID_SPAN_CONTEXT)
    if not ids[2] & 1:
        # The 1 % path's common case (ParentBased): what _Block would decide, without
        # building a context only to look the parent up in it again.
        above = NonRecordingSpan(remote_context(ids))
        return _Carry(above, set_span_in_context(above, Context()))
    # The parent as plain values: a lean span starts from them with no SpanContext.
    return _Block("a2a/request", SpanKind.SERVER, attrs, None, True, known=ids)


def span_properties(span: Span) -> tuple[tuple[str, str], ...]:
    """The ``traceparent`` (and ``tracestate``) User Properties naming ``span``
    (:func:`~a2a_mqtt.binding.tracecontext.inject_span`; a lean span formats them from
    its plain ids)."""
    if type(span) is _OURS:
        return span.trace_properties()  # type: ignore[attr-defined, no-any-return]
    return inject_span(span)


def recording_parent() -> Parent | None:
    """The current span's context, for :func:`span`'s ``below`` (invalid: none, a span
    opened now starts a trace), or the span itself when it is the lean tracer's (whose
    ids ``start_below`` reads without building a context); None when that trace is
    one its root chose not to record, so that a span opened now would not be made and
    a caller may skip building its name and attributes. (Tracing off, :func:`span`
    ignores it.)"""
    current = trace.get_current_span()
    if type(current) is _OURS:
        return current
    sc = current.get_span_context()
    return None if sc.is_valid and not sc.trace_flags.sampled else sc


def records_below() -> bool:
    """Whether a span opened now would be made (:func:`recording_parent` is not None)."""
    return recording_parent() is not None


def name_request(method: str, span: Span | None = None, **attributes: AttributeValue) -> None:
    """Name the server span (``span``, as :func:`server_span`'s block gave it; default:
    the current span) after the decoded method; no-op while off."""
    if _TRACER is None:
        return
    current = trace.get_current_span() if span is None else span
    if current.is_recording():
        name = _NAMES.get(method)
        if name is None:
            name = _bounded(_NAMES)[method] = f"a2a/{method}"
        current.update_name(name)
        current.set_attribute("rpc.method", method)
        if attributes:
            current.set_attributes(attributes)


def mark_error(code: int, message: str) -> None:
    """Mark the current span failed with a JSON-RPC error (no-op while tracing is off)."""
    if _TRACER is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("rpc.jsonrpc.error_code", code)
        current.set_status(Status(StatusCode.ERROR, message[:200]))

