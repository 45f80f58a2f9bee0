"""uvicorn embedded in a process that owns its signals and waits for it to listen.

The gateway, the registry and the JWKS server each run uvicorn as one task among
others: SIGINT/SIGTERM belong to the host (``serve``/``run``), and start-up waits
for :attr:`EmbeddedUvicorn.listening` instead of polling the port. The host owns
the resources too, so an app's ASGI lifespan has nothing to do (``empty_lifespan``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from starlette.types import Receive, Send

__all__ = ["EmbeddedUvicorn", "empty_lifespan"]


class EmbeddedUvicorn(uvicorn.Server):
    """A uvicorn server that leaves signals alone and says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals stay with the host process

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()


async def empty_lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI lifespan: nothing to start or stop (the host object owns both)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
