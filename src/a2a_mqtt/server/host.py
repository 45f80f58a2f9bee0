"""AgentHost: many agents in one process, each with its own MQTT session."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from a2a_mqtt.server.agent import AgentServer, TransportFactory
from a2a_mqtt.server.config import AgentConfig

__all__ = ["AgentHost", "serve_agents"]


class AgentHost:
    """Starts and stops a set of agents together (each keeps its own Client ID and will)."""

    def __init__(self, configs: Iterable[AgentConfig], *,
                 transport_factory: TransportFactory | None = None) -> None:
        self.servers: Sequence[AgentServer] = [
            AgentServer(c, transport_factory=transport_factory) for c in configs]
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> AgentHost:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            # Started concurrently: a host of hundreds of agents should not connect serially.
            await asyncio.gather(*(s.start() for s in self.servers))
        except BaseException:
            await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)
            raise
        for server in self.servers:
            stack.push_async_callback(server.stop)
        self._stack = stack
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)
            await stack.aclose()


async def serve_agents(configs: Iterable[AgentConfig], *,
                       stop: asyncio.Event | None = None) -> None:
    """Run agents until ``stop`` is set or SIGINT/SIGTERM arrives, then stop them gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    try:
        async with AgentHost(configs):
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
