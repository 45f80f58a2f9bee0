"""The lean HTTP load generator counts only completed replies, and survives bad ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from harness.leanhttp import LeanHttpDriver

COMPLETED = (b'{"jsonrpc":"2.0","id":1,"result":'
             b'{"task":{"status":{"state":"TASK_STATE_COMPLETED"}}}}')
FAILED = b'{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"no"}}'


async def _server(replies: list[bytes]) -> tuple[asyncio.Server, list[bytes]]:
    """A keep-alive HTTP/1.1 server answering each POST with the next reply in turn."""
    bodies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                bodies.append(await reader.readexactly(length))
                body = replies[(len(bodies) - 1) % len(replies)]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), bodies


@pytest.mark.asyncio
async def test_completed_replies_are_counted_and_errors_are_not() -> None:
    server, bodies = await _server([COMPLETED, FAILED])
    port = server.sockets[0].getsockname()[1]
    async with server, LeanHttpDriver(f"http://127.0.0.1:{port}/a/b", inflight=2,
                                      text="hi", timeout=5) as driver:
        latencies, seconds, errors = await driver.drive(10)
    assert (len(latencies), errors) == (5, 5)
    assert seconds > 0 and all(t > 0 for t in latencies)
    # every request is a JSON-RPC SendMessage with its own message id
    assert len(bodies) == 10 and len(set(bodies)) == 10
    assert all(b'"method":"SendMessage"' in b and b'"text":"hi"' in b for b in bodies)


@pytest.mark.asyncio
async def test_a_reply_without_content_length_is_an_error_not_a_hang() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, LeanHttpDriver(f"http://127.0.0.1:{port}/", inflight=1, text="hi",
                                      timeout=5) as driver:
        latencies, _, errors = await driver.drive(3)
    assert (latencies, errors) == ([], 3)
