"""Starting, stopping and talking to observability's child processes.

Helpers of :class:`~a2a_mqtt.observability.childexport.ProcessSpanProcessor` (the
span export process, :mod:`.exportproc`) and of the metrics process
(:mod:`.metricschild`, :mod:`.metricsproc`): the child's command line and environment
(it imports this very package, and logs in the service's format), its first message,
its end, and the span exporter's in-process fallback. Nothing secret goes on a
command line: settings travel through the child's stdin.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Final

from opentelemetry.sdk.trace import SpanProcessor

from a2a_mqtt.observability.spanwire import frame

__all__ = ["exporter_timeout", "inline_processor", "read_byte", "start_child",
           "start_export_process", "stop_export_process"]

log = logging.getLogger("a2a_mqtt.observability")

_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])


def start_export_process(settings: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """A new export process that has its settings (``OTLPSpanExporter`` keyword
    arguments: the endpoint travels through the pipe, never the command line); None,
    with a warning, if none can be started."""
    return start_child("a2a_mqtt.observability.exportproc", frame(settings),
                       what="span export process")


def start_child(module: str, first: bytes, *, what: str) -> subprocess.Popen[bytes] | None:
    """``python -m module`` with pipes on its stdin and stdout, sent ``first`` (its
    settings message, already framed); None, with a warning, if it cannot be started."""
    env = dict(os.environ)
    # The child imports this very package, wherever the parent found it.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    # Its log lines (the exporter's retries and failures) in the service's format.
    env["A2A_MQTT_LOG_FORMAT"] = log_format()
    try:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, a module of ours
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env,
            close_fds=True)
        assert proc.stdin is not None
        if first:
            _write_all(proc.stdin, first)
    except OSError as exc:
        log.warning("%s did not start (%s)", what, exc)
        return None
    return proc


def stop_export_process(proc: subprocess.Popen[bytes], *, kill: bool, timeout: float) -> None:
    """Close its pipes (end of input: it exports what it holds) and wait ``timeout``
    seconds for it to end, killing it first when ``kill`` and at the end if needed."""
    if kill:
        proc.kill()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_format() -> str:
    """``json`` when this process logs JSON lines (a :class:`JsonFormatter` on the root
    logger, as ``--log-format json`` installs), else ``text``."""
    from a2a_mqtt.observability.logs import JsonFormatter  # noqa: PLC0415

    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return "json"
    return "text"


def inline_processor(settings: dict[str, Any]) -> SpanProcessor:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    log.warning("no span export process; spans are exported in-process")
    return BatchSpanProcessor(OTLPSpanExporter(**settings))


def exporter_timeout() -> float:
    """The official exporter's timeout in seconds, as it reads it (default 10)."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                return float(raw)
            except ValueError:
                break
    return 10.0


def _write_all(stream: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking pipe that is full: not ours
            raise OSError("the child's pipe is not blocking")
        view = view[written:]


def read_byte(stream: IO[bytes], timeout: float) -> bytes | None:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return None
    answer = stream.read(1)
    if not answer:
        raise OSError("the child process ended")
    return answer
