"""py-spy for the benchmarks: find it, record a process, stop it (no a2a imports)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
from pathlib import Path

__all__ = ["have_py_spy", "start_py_spy", "stop_py_spy"]


def _exe() -> str:
    return shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def have_py_spy() -> bool:
    return Path(_exe()).exists()


async def start_py_spy(pid: int, out: Path, rate: int,
                       *options: str) -> asyncio.subprocess.Process:
    """``py-spy record`` of ``pid`` into ``out`` (raw format, full file names)."""
    return await asyncio.create_subprocess_exec(
        _exe(), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
        "--full-filenames", *options, "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def stop_py_spy(proc: asyncio.subprocess.Process, *, log: logging.Logger,
                      strict: bool = False) -> None:
    """SIGINT, so py-spy writes its file; killed after 30 s (an error when ``strict``)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        if strict:
            raise RuntimeError("py-spy did not stop") from None
        log.warning("py-spy did not stop; killed")
        return
    if proc.returncode not in (0, -signal.SIGINT, 130) and err:
        log.warning("py-spy: %s", err.decode(errors="replace")[-500:])
