"""Profiles -> CPU per request by package and by layer (cProfile and py-spy)."""

from __future__ import annotations

import pstats
from collections import defaultdict
from pathlib import Path
from typing import Any

from a2a_bench.settings import (
    HERE,
)

# -- CPU profile of our path ----------------------------------------------------------

_IDLE = {
    "<method 'poll' of 'select.epoll' objects>",
    "<built-in method select.select>",
    "<method 'select' of 'select.epoll' objects>",
}
_SOCKET = ("of '_socket.socket' objects>", "of '_ssl._SSLSocket' objects>")


def _package(func: tuple[str, int, str]) -> str | None:
    """The package a function belongs to; None for a C builtin."""
    filename = func[0]
    if filename == "~":
        return None
    f = filename.replace("\\", "/")
    if f.startswith("<frozen"):
        return "other (stdlib/3rd-party)"
    if "/a2a_mqtt/" in f:
        return "a2a_mqtt (ours)"
    if f.startswith(str(HERE)) or "/bench/" in f:
        return "bench (executor, driver)"
    if "/paho/" in f:
        return "paho-mqtt"
    if "/site-packages/a2a/" in f:
        return "a2a-sdk"
    if "/opentelemetry/" in f:
        return "opentelemetry (a2a-sdk spans)"
    if "/culsans/" in f or "/aiologic/" in f:
        return "culsans+aiologic (a2a-sdk queues)"
    if "/google/protobuf/" in f:
        return "google.protobuf"
    if "/json/" in f:
        return "json"
    if "/asyncio/" in f:
        return "asyncio"
    if "/uuid.py" in f:
        return "uuid"
    if "/jsonrpc/" in f:
        return "jsonrpc (lib)"
    return "other (stdlib/3rd-party)"


def breakdown(path: str, requests: int) -> dict[str, Any]:
    """Own time by package in µs per request; builtins charged to their caller's package."""
    st = pstats.Stats(path)
    own: dict[str, float] = defaultdict(float)
    idle = 0.0
    raw = st.stats  # type: ignore[attr-defined]
    for func, (_cc, _nc, tt, _ct, callers) in raw.items():
        pkg = _package(func)
        if pkg is not None:
            own[pkg] += tt
            continue
        name = func[2]
        if name in _IDLE:
            idle += tt
            continue
        if name.endswith(_SOCKET):
            own["socket syscalls"] += tt
            continue
        total_from_callers = sum(v[2] for v in callers.values()) or 0.0
        if not callers or total_from_callers <= 0:
            own["C builtins (unattributed)"] += tt
            continue
        for caller, v in callers.items():
            share = tt * v[2] / total_from_callers
            own[_package(caller) or "C builtins (unattributed)"] += share
    total = sum(own.values())
    top = sorted(
        ((tt, f) for f, (_cc, _nc, tt, _ct, _c) in raw.items() if f[2] not in _IDLE), reverse=True
    )[:25]
    cumulative = sorted(
        (
            (ct, f)
            for f, (_cc, _nc, _tt, ct, _c) in raw.items()
            if _package(f) in ("a2a_mqtt (ours)", "a2a-sdk")
        ),
        reverse=True,
    )[:25]

    def label(f: tuple[str, int, str]) -> str:
        if f[0] == "~":
            return f[2]
        parts = Path(f[0]).parts
        short = "/".join(parts[-2:])
        return f"{short}:{f[1]}({f[2]})"

    return {
        "requests": requests,
        "busy_us_per_request": total * 1e6 / requests,
        "idle_us_per_request": idle * 1e6 / requests,
        "own_by_package": {
            k: {"us_per_request": v * 1e6 / requests, "percent": 100 * v / total if total else 0.0}
            for k, v in sorted(own.items(), key=lambda kv: -kv[1])
        },
        "top_own": [{"function": label(f), "us_per_request": t * 1e6 / requests} for t, f in top],
        "top_cumulative_ours_and_sdk": [
            {"function": label(f), "us_per_request": c * 1e6 / requests} for c, f in cumulative
        ],
    }


def _frame_package(frame: str) -> str:
    """Package of one py-spy frame ``func (/path/file.py:line)``."""
    start = frame.rfind(" (")
    path = frame[start + 2 :].rsplit(":", 1)[0] if start >= 0 else ""
    return _package((path or "?", 0, frame)) or "other (stdlib/3rd-party)"


def _func_name(frame: str) -> str:
    """``module.py Class.func`` of a py-spy frame, without the line number."""
    func, _, where = frame.partition(" (")
    return f"{'/'.join(Path(where.rsplit(':', 1)[0]).parts[-2:])} {func}"


def _is_idle_leaf(frame: str) -> bool:
    """A sample blocked in the selector or waitpid (py-spy's idle detection misses some)."""
    return ("select (" in frame and "selectors.py" in frame) or "_do_waitpid (" in frame


_SDK_LAYER = frozenset(
    {
        "a2a-sdk",
        "opentelemetry (a2a-sdk spans)",
        "culsans+aiologic (a2a-sdk queues)",
    }
)
LAYERS = (
    "a2a-sdk (handler, its spans and queues)",
    "a2a_mqtt transport (create_transport: asyncio + the mqtt5 codec)",
    "a2a_mqtt binding/server/client (+ protobuf JSON, json)",
    "bench (executor body, request driver)",
    "event loop and other",
)


def _layer(frames: list[str]) -> str:
    """Which layer a sample belongs to: the outermost owner wins, in LAYERS order.

    A sample anywhere under an a2a-sdk frame is the handler's (including the executor
    and what the SDK calls); else under an ``a2a_mqtt.transport`` or paho frame, the
    transport's; else under another a2a_mqtt frame, ours; else under a bench frame
    (the executor body, the driver loop), the bench's; else the loop's.
    """
    paths = [f[f.rfind(" (") + 2 :] for f in frames]
    # parse_lenient is a one-line ParseDict wrapper our client calls: not the SDK's work.
    pkgs = [
        _frame_package(f) if "/a2a/utils/proto_utils.py" not in f else "google.protobuf"
        for f in frames
    ]
    if any(p in _SDK_LAYER for p in pkgs):
        return LAYERS[0]
    if any("/a2a_mqtt/transport/" in p or "/paho/" in p for p in paths):
        return LAYERS[1]
    if "a2a_mqtt (ours)" in pkgs:
        return LAYERS[2]
    if "bench (executor, driver)" in pkgs and pkgs[-1] != "asyncio":
        return LAYERS[3]
    return LAYERS[4]


def breakdown_spy(path: str, requests: int, rate: int) -> dict[str, Any]:
    """Samples by package: own (leaf frame, which includes the C code it calls) and
    inclusive (the package anywhere on the stack), in µs per request."""
    own: dict[str, int] = defaultdict(int)
    incl: dict[str, int] = defaultdict(int)
    layers: dict[str, int] = defaultdict(int)
    ours_incl: dict[str, int] = defaultdict(int)
    leaf_funcs: dict[str, int] = defaultdict(int)
    total = idle = other_threads = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        if not frames[0].startswith("<module> ("):
            # Not the main (event loop) thread: asyncio's default-executor workers blocked
            # on their queue, the child watcher in waitpid. py-spy counts them as active.
            other_threads += count
            continue
        if _is_idle_leaf(frames[-1]):
            idle += count
            continue
        total += count
        layers[_layer(frames)] += count
        own[_frame_package(frames[-1])] += count
        leaf_funcs[frames[-1]] += count
        for pkg in {_frame_package(f) for f in frames}:
            incl[pkg] += count
        for func in {_func_name(f) for f in frames if "/a2a_mqtt/" in f}:
            ours_incl[func] += count
    us = 1e6 / rate / requests

    def label(frame: str) -> str:
        func, _, where = frame.partition(" (")
        parts = Path(where.rstrip(")")).parts
        return f"{'/'.join(parts[-2:])} {func}"

    return {
        "requests": requests,
        "samples": total,
        "rate_hz": rate,
        "busy_us_per_request": total * us,
        "idle_us_per_request": idle * us,
        "other_threads_samples": other_threads,
        "by_layer": {
            k: {"us_per_request": layers[k] * us, "percent": 100 * layers[k] / total}
            for k in LAYERS
            if total
        },
        "own_by_package": {
            k: {"us_per_request": v * us, "percent": 100 * v / total}
            for k, v in sorted(own.items(), key=lambda kv: -kv[1])
        },
        "inclusive_by_package": {
            k: {"us_per_request": v * us, "percent": 100 * v / total}
            for k, v in sorted(incl.items(), key=lambda kv: -kv[1])
        },
        "top_own": [
            {"function": label(f), "us_per_request": c * us}
            for f, c in sorted(leaf_funcs.items(), key=lambda kv: -kv[1])[:25]
        ],
        "top_inclusive_ours": [
            {"function": f, "us_per_request": c * us, "percent": 100 * c / total}
            for f, c in sorted(ours_incl.items(), key=lambda kv: -kv[1])[:25]
        ],
    }
