"""The broker state file: where ``a2a-mqtt broker`` leaves its URL for other commands.

``a2a-mqtt broker`` picks a free port; without this file every other command
would need ``--broker``. The file lives in the user's runtime directory
(``$XDG_RUNTIME_DIR/a2a-mqtt/broker``, else ``<tmp>/a2a-mqtt-<uid>/broker``),
holds the URL and the writer's pid, and is removed when the broker stops. A
file whose pid is gone (a killed broker) is ignored, so a stale URL is never used.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["announce_broker", "broker_state_file", "read_broker_url"]


def broker_state_file() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "a2a-mqtt" / "broker"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"a2a-mqtt-{uid}" / "broker"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to judge
    return True


def read_broker_url(path: Path | None = None) -> str | None:
    """The URL a running ``a2a-mqtt broker`` announced, or None."""
    path = path or broker_state_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 2 or not lines[1].strip().isdigit():
        return None
    url, pid = lines[0].strip(), int(lines[1])
    return url if url and _alive(pid) else None


@contextlib.contextmanager
def announce_broker(url: str, path: Path | None = None) -> Iterator[Path]:
    """Write ``url`` to the state file while the block runs; remove it after,
    unless another broker has replaced it meanwhile."""
    path = path or broker_state_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = f"{url}\n{os.getpid()}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == content:
                path.unlink()
