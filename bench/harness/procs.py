"""Processes for benches: this script re-invoked as a server, a private broker.

A child speaks one line protocol on stdout (``READY ...`` once it serves) and
stops on EOF of its stdin, so a bench that dies never leaves it behind.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["ChildProcess", "free_port", "private_broker"]


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


class ChildProcess:
    """``python script *argv``; ready when it prints ``READY``; stopped by closing stdin."""

    def __init__(
        self,
        script: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.script = script
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.ready_line = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> str:
        """Start it and wait for its ``READY`` line (returned)."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            self.script,
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.env,
        )
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
                    raise RuntimeError(f"child {self.argv} exited before {word}")
                if line == word or line.startswith(word + " "):
                    return line

    async def command(self, line: str, expect: str, timeout: float = 60.0) -> str:
        """Write one control line to stdin; wait for the ``expect`` reply."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        return await self.expect(expect, timeout)

    async def stop(self) -> None:
        """EOF on stdin; killed when it has not exited after ``stop_timeout``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), self.stop_timeout)

    async def __aenter__(self) -> ChildProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
