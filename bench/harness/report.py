"""The report: a markdown table on stdout and the whole result as JSON."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "fmt", "markdown_table", "write_json"]

#: Where results go unless ``--json`` says otherwise (gitignored).
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def fmt(value: float | None, spec: str = ".2f") -> str:
    """A number formatted with ``spec``; ``-`` for missing or nan."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def markdown_table(
    columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]
) -> str:
    """``columns`` is (header, format) per column, the format either a format spec
    for a number (right-aligned; ``-`` when missing) or ``""`` for text."""
    head = "| " + " | ".join(h for h, _ in columns) + " |"
    rule = "|" + "|".join("---:" if spec else "---" for _, spec in columns) + "|"
    lines = [head, rule]
    for row in rows:
        cells = []
        for (header, spec), value in zip(columns, _values(columns, row), strict=True):
            del header
            cells.append(fmt(value, spec) if spec else ("-" if value is None else str(value)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _values(columns: Sequence[tuple[str, str]], row: dict[str, Any]) -> list[Any]:
    # A row may be keyed by header or by the header's snake_case.
    out = []
    for header, _ in columns:
        key = header if header in row else header.lower().replace(" ", "_").replace("/", "_")
        out.append(row.get(key))
    return out


def write_json(bench: str, payload: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write ``payload`` to ``path`` or ``bench/results/<bench>-<timestamp>.json``."""
    if path:
        out = Path(path)
    else:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{bench}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(payload, indent=2, default=str))
    return out
