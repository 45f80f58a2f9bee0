"""A span processor that keeps every ended span, for tests that read what the SDK made."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor


class Ended(SpanProcessor):
    """Keeps every ended span (the SDK's public processor interface)."""

    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)
