"""What the results depend on: versions, uvicorn's choices, git state, load."""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import platform
from typing import Any

from a2a_bench.settings import (
    HERE,
)


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def http_impl() -> tuple[str, str]:
    """What uvicorn's ``auto`` picks here: (loop, http)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def src_digest() -> str:
    import hashlib

    digest = hashlib.sha256()
    root = HERE.parent
    for path in sorted((root / "src").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _git_state() -> dict[str, Any]:
    """HEAD, the locally modified files, and a digest of src/ as measured."""
    import subprocess

    root = HERE.parent

    def git(*argv: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(root), *argv],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "modified": git("status", "--porcelain", "--", "src").splitlines(),
        "src_sha256": src_digest(),
    }


def environment() -> dict[str, Any]:
    loop, http = http_impl()
    from a2a_mqtt.broker import find_mosquitto

    try:
        import subprocess

        mosq = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.splitlines()[0]
    except Exception:
        mosq = "mosquitto (version unknown)"
    from google.protobuf.internal import api_implementation

    return {
        "git": _git_state(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "mosquitto": mosq,
        "uvicorn_loop": loop,
        "uvicorn_http": http,
        "protobuf_backend": api_implementation.Type(),
        "versions": {
            d: dist_version(d)
            for d in (
                "a2a-mqtt",
                "a2a-sdk",
                "a2a-over-mqtt",
                "paho-mqtt",
                "aiomqtt",
                "protobuf",
                "httpx",
                "aiohttp",
                "uvicorn",
                "starlette",
            )
        },
    }
