"""The options every benchmark takes: ``--runs``, ``--quick``, ``--json``."""

from __future__ import annotations

import argparse

__all__ = ["bench_parser", "finish_args"]


def bench_parser(
    description: str | None,
    *,
    runs: int = 3,
    quick: str = "one small run (smoke test)",
    json_help: str = "also write the results here as JSON",
) -> argparse.ArgumentParser:
    """A parser with the common options; the bench adds its own, then calls
    :func:`finish_args`. ``description`` is usually ``__doc__``: its first paragraph
    is used."""
    first = (description or "").split("\n\n")[0] or None
    parser = argparse.ArgumentParser(description=first)
    parser.add_argument("--runs", type=int, default=runs, help=f"runs (default {runs})")
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", default=None, metavar="PATH", help=json_help)
    return parser


def finish_args(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, **quick: object
) -> argparse.Namespace:
    """Parse; with ``--quick`` set the ``quick`` attributes (e.g. ``runs=1, n=100``);
    reject non-positive ``--runs``."""
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args
