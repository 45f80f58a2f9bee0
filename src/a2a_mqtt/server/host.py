"""AgentHost: many agents in one process, each with its own MQTT session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from a2a_mqtt.server.agent import AgentServer, TransportFactory
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.service import serve_until_stopped

__all__ = ["AgentHost", "serve_agents"]


class AgentHost:
    """Starts and stops a set of agents together (each keeps its own Client ID and will):
    the server of many ``AgentConfig`` at once."""

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

    async def serve(self, stop: asyncio.Event | None = None, *,
                    on_ready: Callable[[], None] | None = None) -> None:
        """Start, run until ``stop`` is set or SIGINT/SIGTERM arrives, then stop gracefully
        (a2a_mqtt/service.py); ``on_ready`` is called once serving."""
        await serve_until_stopped(self, stop, on_ready=on_ready)


async def serve_agents(configs: Iterable[AgentConfig], *,
                       stop: asyncio.Event | None = None) -> None:
    """Run agents until ``stop`` is set or SIGINT/SIGTERM arrives, then stop them gracefully
    (``AgentHost(configs).serve(stop)``)."""
    await AgentHost(configs).serve(stop)
