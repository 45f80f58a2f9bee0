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


Column = tuple[str, str] | tuple[str, str, str]


def markdown_table(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> str:
    """One row per dict. A column is ``(header, spec)`` or ``(header, spec, key)``:
    ``spec`` is a format spec for a number (right-aligned; ``-`` when missing or nan)
    or ``""`` for text; the value is ``row[key]``, else ``row[header]``, else the
    header in snake_case (``"p50 ms"`` -> ``p50_ms``)."""
    head = "| " + " | ".join(c[0] for c in columns) + " |"
    rule = "|" + "|".join("---:" if c[1] else "---" for c in columns) + "|"
    lines = [head, rule]
    for row in rows:
        cells = []
        for column in columns:
            spec, value = column[1], row.get(_key(column, row))
            cells.append(fmt(value, spec) if spec else ("-" if value is None else str(value)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _key(column: Column, row: dict[str, Any]) -> str:
    if len(column) == 3:
        return column[2]
    header = column[0]
    return header if header in row else header.lower().replace(" ", "_").replace("/", "_")


def write_json(bench: str, payload: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write ``payload`` to ``path`` or ``bench/results/<bench>-<timestamp>.json``."""
    if path:
        out = Path(path)
    else:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{bench}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(payload, indent=2, default=str))
    return out
