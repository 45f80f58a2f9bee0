"""Processes for benches: this script re-invoked as a server, a private broker.

A child speaks one line protocol on stdout (``READY ...`` once it serves) and
stops on EOF of its stdin (:func:`stdin_closed` on its side), so a bench that
dies never leaves it behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

__all__ = ["ChildProcess", "free_port", "private_broker", "stdin_closed"]


def free_port() -> int:
    """A free TCP port on loopback."""
    from a2a_mqtt.broker import free_port as _free_port

    return _free_port()


@asynccontextmanager
async def private_broker(**config: Any) -> AsyncIterator[Any]:
    """A Mosquitto of our own (``EmbeddedBroker``; ``config`` -> ``BrokerConfig``);
    yields it: ``.url``, ``.process.pid``."""
    from a2a_mqtt.broker import BrokerConfig, EmbeddedBroker

    async with EmbeddedBroker(config=BrokerConfig(**config) if config else None) as broker:
        yield broker


def stdin_closed() -> asyncio.Event:
    """Child side: an event set when stdin reaches EOF (the parent stopped us, or died).
    For a child that reads no commands: whatever stdin carries is discarded."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def on_stdin() -> None:
        if not os.read(0, 4096):
            loop.remove_reader(0)
            closed.set()

    loop.add_reader(0, on_stdin)
    return closed


class ChildProcess:
    """``python script *argv``; ready when it prints ``READY``; stopped by closing stdin.

    ``stderr``: a file its standard error is appended to (its tail is in the error
    when the child exits before ``READY``); otherwise it is inherited. It may be
    started again after :meth:`stop` or :meth:`kill` (``starts`` counts them)."""

    def __init__(
        self,
        script: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        stderr: Path | None = None,
    ) -> None:
        self.script = script
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.stderr = stderr
        self.proc: asyncio.subprocess.Process | None = None
        self.ready_line = ""
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> str:
        """Start it and wait for its ``READY`` line (returned)."""
        err = None if self.stderr is None else self.stderr.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                self.script,
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=self.env,
            )
        finally:
            if err is not None:
                err.close()  # the child holds its own copy
        self.starts += 1
        self.ready_line = await self.expect("READY", self.ready_timeout)
        return self.ready_line

    async def expect(self, word: str, timeout: float) -> str:
        """The next stdout line that is ``word`` or starts with ``word + " "``."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.proc.stdout.readline()).decode().strip()
                if not line:
                    tail = ("" if self.stderr is None
                            else "\n" + self.stderr.read_text(errors="replace")[-3000:])
                    raise RuntimeError(f"child {self.argv} exited before {word}{tail}")
                if line == word or line.startswith(word + " "):
                    return line

    async def command(self, line: str, expect: str, timeout: float = 60.0) -> str:
        """Write one control line to stdin; wait for the ``expect`` reply."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        return await self.expect(expect, timeout)

    async def stop(self) -> int | None:
        """EOF on stdin; killed when it has not exited after ``stop_timeout``.
        Its exit status (None: it was not running)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), self.stop_timeout)
        return proc.returncode

    async def kill(self) -> None:
        """SIGKILL, as a crash would; wait until it is gone (``start`` may follow)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()

    async def __aenter__(self) -> ChildProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
