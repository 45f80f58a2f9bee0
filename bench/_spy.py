"""Old name of :mod:`harness.spy` (kept so scripts importing ``_spy`` still run)."""

from __future__ import annotations

from harness.spy import have_py_spy, start_py_spy, stop_py_spy

__all__ = ["have_py_spy", "start_py_spy", "stop_py_spy"]
