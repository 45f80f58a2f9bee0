"""Helpers for transport behaviour tests: options factories and a message collector."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.transport import BrokerURL, ConnectOptions, IncomingMessage

OptionsFactory = Callable[..., ConnectOptions]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every transport test runs on the standard loop and on uvloop, which our own
    processes use (a2a_mqtt/_loop.py): their transports differ in type and detail."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class Collector:
    """A MessageHandler that queues what it receives; ``await get()`` to take one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.seen: list[IncomingMessage] = []

    def __call__(self, message: IncomingMessage) -> None:
        self.seen.append(message)
        self.queue.put_nowait(message)

    async def get(self, timeout: float = 5.0) -> IncomingMessage:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def until(self, payload: bytes, timeout: float = 5.0) -> IncomingMessage:
        """Skip messages until one with ``payload`` arrives, and return it."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.queue.get()
                if message.payload == payload:
                    return message

    async def nothing(self, within: float = 0.3) -> None:
        """Assert that no message arrives within ``within`` seconds."""
        try:
            message = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return
        pytest.fail(f"unexpected message {message}")


@pytest.fixture
def make_options(broker: MosquittoProcess, unique_id: str) -> OptionsFactory:
    """``make_options("name", **ConnectOptions fields)`` for the ``broker`` fixture."""
    return options_for(broker, unique_id)


def options_for(broker: MosquittoProcess, unique_id: str) -> OptionsFactory:
    def make(name: str = "c", **kwargs: Any) -> ConnectOptions:
        kwargs.setdefault("reconnect_min_delay", 0.05)
        kwargs.setdefault("reconnect_max_delay", 0.5)
        kwargs.setdefault("ack_timeout", 10.0)
        return ConnectOptions(
            url=BrokerURL.parse(broker.url), client_id=f"{unique_id}-{name}", **kwargs
        )

    return make
