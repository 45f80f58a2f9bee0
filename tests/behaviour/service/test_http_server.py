"""HttpServer: uvicorn on a bound socket, over real HTTP; ``url`` while it serves."""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import AsyncExitStack

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from a2a_mqtt.service import HttpServer

pytestmark = pytest.mark.asyncio


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/`` answers ``ok``; ``/stream`` sends one chunk, then never ends."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    if scope["path"] == "/stream":
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.Event().wait()
    await send({"type": "http.response.body", "body": b"ok"})


class _Web(HttpServer):
    def __init__(self, port: int = 0) -> None:
        self.port = port

    async def _start(self, stack: AsyncExitStack) -> None:
        await self._serve_http(stack, uvicorn.Config(
            _app, lifespan="off", log_config=None, timeout_graceful_shutdown=1),
            host="127.0.0.1", port=self.port, name="test-web", stop_grace=2)


async def test_it_serves_on_a_free_port_and_stops_with_the_server() -> None:
    server = _Web()
    async with server, httpx.AsyncClient() as http:
        url = server.url
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert (await http.get(url)).text == "ok"
        assert any(t.get_name() == "test-web.http" for t in asyncio.all_tasks())
    with pytest.raises(RuntimeError, match="_Web is not running"):
        _ = server.url
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)
    assert not any(t.get_name() == "test-web.http" for t in asyncio.all_tasks())


async def test_an_open_stream_does_not_hold_the_stop_past_the_grace() -> None:
    server = _Web()
    async with server, httpx.AsyncClient() as http:
        async with http.stream("GET", f"{server.url}/stream") as response:
            assert await anext(response.aiter_bytes()) == b"first"
            started = time.monotonic()
            await server.stop()
    assert time.monotonic() - started < 6  # stop_grace 2 s, then cancelled


async def test_a_taken_port_raises_and_the_server_can_start_after() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        server = _Web(port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            await server.start()
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.url
    finally:
        taken.close()
    server.port = 0
    async with server, httpx.AsyncClient() as http:
        assert (await http.get(server.url)).text == "ok"
