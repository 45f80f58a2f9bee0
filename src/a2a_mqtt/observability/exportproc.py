"""The span export process: ``python -m a2a_mqtt.observability.exportproc``.

Started by :class:`~a2a_mqtt.observability.childexport.ProcessSpanExporter`, which
owns its stdin and stdout. Protocol (frames of :mod:`.spanwire`): the first frame
is the exporter's settings (a dict of ``OTLPSpanExporter`` keyword arguments),
then each frame is one batch; after each batch one byte goes back, ``0`` exported
or ``1`` not. End of stdin (a graceful stop, or the parent's death) shuts the
exporter down and ends the process.

Why a process: the official encoder costs about 35 µs of CPU per span in Python,
the better part of what tracing costs. Here it runs on another core and never
holds the service's GIL. It ignores SIGINT and SIGTERM: a Ctrl-C or a stop signal
meant for the service's process group must not end it before the service's last
batch arrives; it ends at end of input, which the service's exit (even ``kill -9``)
brings. It stays in the service's session and process group (a session of its
own would also be a scheduling group of its own where autogroups are on, and could
be starved, or favoured, against the service it works for).
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import IO, Any

from a2a_mqtt.observability.spanwire import HEADER, load_batch, unframe_header

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


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415

    settings = _frame(stdin)
    if not isinstance(settings, dict):
        return 2
    exporter = OTLPSpanExporter(**settings)
    try:
        while (batch := _frame(stdin)) is not None:
            try:
                result = exporter.export(load_batch(batch))
            except Exception:  # a batch must never end the process: report, go on
                log.exception("span export failed")
                result = SpanExportResult.FAILURE
            stdout.write(OK if result is SpanExportResult.SUCCESS else FAILED)
            stdout.flush()
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s span export: %(message)s")
    return serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
