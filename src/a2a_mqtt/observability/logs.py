"""Log output: plain text or one JSON object per line, secrets scrubbed in both.

``configure_logging(level, fmt)`` installs one stderr handler on the root logger
(what the CLI does with ``--log-format`` / ``A2A_MQTT_LOG_FORMAT``). Either way a
record is one line: the text format escapes control characters, JSON encodes them.
The JSON format carries ``trace_id`` and ``span_id`` from the current OpenTelemetry
span context when one is active (the tracing side sets it; no span, no fields).

Scrubbing is the last line of defence, not the policy: configs keep secrets out of
``repr`` and messages. It rewrites the *formatted* message and exception text:
passwords in URLs (``scheme://user:SECRET@host``), ``Bearer``/``Basic`` credentials,
and ``password=``/``token=``/``secret=``/``api_key=`` pairs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Final, Literal

from opentelemetry import trace

__all__ = ["LOG_FORMATS", "JsonFormatter", "Tenfold", "TextFormatter", "configure_logging",
           "scrub"]

LogFormat = Literal["text", "json"]
LOG_FORMATS: Final = ("text", "json")
_MASK: Final = "***"
_PATTERNS: Final = (
    # userinfo password in any URL: keep the user, hide the password
    (re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]*(?P<tail>@)"),
     rf"\g<head>{_MASK}\g<tail>"),
    (re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
     rf"\g<head>{_MASK}"),
    (re.compile(r"(?P<head>\b(?:password|passwd|token|secret|api[_-]?key|authorization)"
                r"[\"']?\s*[=:]\s*[\"']?)(?!\*\*\*)[^\s\"',;&]+", re.IGNORECASE),
     rf"\g<head>{_MASK}"),
)
_TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Tenfold:
    """When a count of failures that only grows is worth a log line: at the first, then
    whenever it reaches ten times what it was at the last line. A flood of dropped or
    failed spans gives a handful of lines, never one per span."""

    __slots__ = ("_next", "count")

    def __init__(self) -> None:
        self.count = 0
        self._next = 1

    def add(self, n: int = 1) -> bool:
        """Count ``n`` more; True when a line is due now."""
        self.count += n
        if self.count < self._next:
            return False
        self._next = self.count * 10
        return True


def scrub(text: str) -> str:
    """``text`` with credentials masked (see the module docstring)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _span_ids() -> tuple[str, str] | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BREAKS: Final = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class TextFormatter(logging.Formatter):
    """The classic one-line format, scrubbed. A record is one line: control characters
    in it (a newline in a topic or a peer's text) are escaped, so that nobody who
    can put text into a message forges a line of their own; a traceback after it
    keeps its lines."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        return line if line.isprintable() else _CONTROL.sub(_escaped, line)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (+ trace ids, exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        ids = _span_ids()
        if ids is not None:
            out["trace_id"], out["span_id"] = ids
        if record.exc_info:
            out["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = scrub(self.formatStack(record.stack_info))
        task = getattr(record, "taskName", None)
        if task:
            out["task"] = task
        line = json.dumps(out, ensure_ascii=False, default=str)
        # JSON leaves these three as they are, and line readers break lines at them.
        return line if line.isascii() else line.translate(_BREAKS)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours: a second configure_logging() replaces it instead of adding another."""


def configure_logging(level: int, fmt: LogFormat = "text") -> logging.Handler:
    """Root logger at ``level``, one stderr handler in ``fmt``; replaces earlier handlers
    this function installed (idempotent for the CLI)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    return handler
