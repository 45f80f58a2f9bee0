"""The span export process: ``python -m a2a_mqtt.observability.exportproc``.

Started by :class:`~a2a_mqtt.observability.childexport.ProcessSpanProcessor`, which
owns its stdin and stdout. Protocol (messages of :mod:`.spanwire`: a 4-byte length,
then a pickle): the first message is the exporter's settings (a dict of
``OTLPSpanExporter`` keyword arguments); then, in any order, ``("r", i, row)`` and
``("c", i, row)`` name resource and instrumentation scope ``i`` (each once, before
the first span that uses it), ``("b", rows)`` is a batch of finished, sampled spans
(:func:`~.spanwire.span_row`'s rows), ``("l", rows)`` a batch of our lean spans'
rows (:func:`~.spanwire.load_lean_span`, rebuilt under the SDK's ``SpanLimits`` read
here from the inherited ``OTEL_*`` environment), and
``("f",)`` asks for a flush: everything received so far is exported, then one byte
goes back, ``0`` flushed or ``1`` not. End of stdin (a graceful stop, or the
parent's death) shuts the processor down, which exports what it holds, and ends the
process.

The spans go into the SDK's own ``BatchSpanProcessor`` (its queue, batch size,
schedule and drop policy, ``OTEL_BSP_*``) with the official ``OTLPSpanExporter``:
batching and encoding both happen here, so the service process keeps no span after
it ended and runs no export thread.

Why a process: the official encoder costs about 35 µs of CPU per span in Python,
the better part of what tracing costs. Here it runs on another core and never
holds the service's GIL. It ignores SIGINT and SIGTERM: a Ctrl-C or a stop signal
meant for the service's process group must not end it before the service's last
spans arrive; it ends at end of input, which the service's exit (even ``kill -9``)
brings. It stays in the service's session and process group (a session of its
own would also be a scheduling group of its own where autogroups are on, and could
be starved, or favoured, against the service it works for).
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from a2a_mqtt.observability.childmain import run_child
from a2a_mqtt.observability.logs import Tenfold
from a2a_mqtt.observability.spanwire import (
    HEADER,
    load_lean_span,
    load_resource,
    load_scope,
    load_span,
    unframe_header,
)

OK = b"\x00"
FAILED = b"\x01"

log = logging.getLogger("a2a_mqtt.observability")


def _read(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def _frame(stream: IO[bytes]) -> Any | None:
    import pickle  # noqa: PLC0415 - see spanwire: both ends are this package

    header = _read(stream, HEADER.size)
    if header is None:
        return None
    body = _read(stream, unframe_header(header))
    return None if body is None else pickle.loads(body)  # noqa: S301


class Failures:
    """Spans that could not be handled: the first is logged with its traceback, then
    only the count, at every tenfold (one bad batch is 64 spans, not 64 tracebacks)."""

    def __init__(self) -> None:
        self._seen = Tenfold()

    @property
    def count(self) -> int:
        return self._seen.count

    def failed(self) -> None:
        """Called from the ``except`` block of the span that failed."""
        if not self._seen.add():
            return
        if self._seen.count == 1:
            log.exception("span export: a span could not be handled")
        else:
            log.error("span export: %d spans could not be handled so far", self._seen.count)


def _span(processor: Any, row: Any, resources: Any, scopes: Any, limits: Any, *,
          failures: Failures) -> None:
    """One span of a batch into the processor (``limits``: a lean span's row, rebuilt
    under the SDK's span limits); a span that cannot be rebuilt is counted in
    ``failures`` and fails alone (the rest of its batch goes on)."""
    try:
        processor.on_end(load_span(row, resources, scopes) if limits is None
                         else load_lean_span(row, resources, scopes, limits))
    except Exception:
        failures.failed()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import SpanLimits  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415

    settings = _frame(stdin)
    if not isinstance(settings, dict):
        return 2
    processor = BatchSpanProcessor(OTLPSpanExporter(**settings))
    # The SDK's limits from this process's environment, the service's (inherited).
    limits = SpanLimits()
    resources: dict[int, Resource] = {}
    scopes: dict[int, InstrumentationScope | None] = {}
    failures = Failures()
    try:
        while (message := _frame(stdin)) is not None:
            try:
                kind = message[0]
                if kind == "b":
                    for row in message[1]:
                        _span(processor, row, resources, scopes, None, failures=failures)
                elif kind == "l":
                    for row in message[1]:
                        _span(processor, row, resources, scopes, limits, failures=failures)
                elif kind == "r":
                    resources[message[1]] = load_resource(message[2])
                elif kind == "c":
                    scopes[message[1]] = load_scope(message[2])
                elif kind == "f":
                    flushed = processor.force_flush()
                    stdout.write(OK if flushed else FAILED)
                    stdout.flush()
            except Exception:  # one bad message must never end the process: report, go on
                log.exception("span export: a message could not be handled")
    finally:
        processor.shutdown()  # type: ignore[no-untyped-call]
    return 0


def main() -> int:
    return run_child(serve)


if __name__ == "__main__":
    sys.exit(main())
