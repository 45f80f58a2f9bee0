"""A registry HTTP app served by a real uvicorn for the synchronous fuzz tests, and an
index filled by a fixed churn (no broker: ingest is driven in process)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from a2a_mqtt.registry.config import RegistryConfig
from a2a_mqtt.registry.ingest import index_message
from a2a_mqtt.registry.service import RegistryService
from tests.unit.registry.churn import MAX_CARD_BYTES, churn, message, topic_pool

__all__ = ["TOKEN", "Uvicorn", "churned_service"]

TOKEN = "t0ken-t0ken-t0ken-t0ken"


def churned_service(*, steps: int = 400, seed: int = 3, **config: Any) -> RegistryService:
    service = RegistryService(RegistryConfig(agent_ref=None, admin_token=TOKEN,
                                             max_card_bytes=MAX_CARD_BYTES, **config))
    for now, step in enumerate(churn(topic_pool(30), steps, seed=seed)):
        changes = index_message(service.index, message(step), float(now))
        if changes:
            service.publish(changes)
    assert service.index.entries and service.index.rejected
    return service


class Uvicorn:
    """``app`` served by uvicorn on a free loopback port, on a thread of its own
    (these tests are synchronous: hypothesis and schemathesis drive them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (hand work to it with ``call_soon_threadsafe``)."""
        assert self._loop is not None
        return self._loop

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(serve())

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            self.thread.join(0.01)
        assert self.server.started, "uvicorn did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def field_value_is_valid(value: bytes) -> bool:
    """RFC 9110 field-value: HTAB, SP, visible ASCII and obs-text; no other control.
    uvicorn's httptools parser refuses any other byte with its own plain 400 before
    the app runs (h11 let some through)."""
    return all(b in (0x09, 0x20) or 0x21 <= b <= 0x7E or b >= 0x80 for b in value)
