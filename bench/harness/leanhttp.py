"""The cheapest HTTP load generator that still speaks A2A JSON-RPC: for server benches.

``bench/gateway_compare.py`` compares two HTTP servers at 100 requests in flight on a
2-core machine that also runs the load generator. a2a-sdk's ``JsonRpcTransport`` on
httpx spends tens of milliseconds of CPU per request at that concurrency (its
connection pool), so the client, not the servers, set the pace. ``LeanHttpDriver``
keeps one HTTP/1.1 keep-alive connection per request in flight, writes each
``SendMessage`` from a byte template (only the message id changes) and checks each reply
as bytes: status 200, a JSON-RPC result (no ``"error"``) and the completed state. It
parses nothing into protobuf. It reads ``Content-Length`` bodies only (both servers,
uvicorn, answer unary JSON-RPC that way); anything else fails the request loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from urllib.parse import urlsplit

__all__ = ["LeanHttpDriver"]

_MARK = "0" * 32
_HEAD_LIMIT = 16 * 1024


class LeanHttpDriver:
    """``async with LeanHttpDriver(url, inflight=100) as d: await d.drive(n)``."""

    def __init__(self, url: str, *, inflight: int, text: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port/path, got {url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._inflight = inflight
        self._timeout = timeout
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
            "message": {"messageId": _MARK, "role": "ROLE_USER", "parts": [{"text": text}]}}},
            separators=(",", ":")).encode()
        head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Content-Type: application/json\r\nA2A-Version: 1.0\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self._before, _, self._after = (head + body).partition(_MARK.encode())
        self._conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> LeanHttpDriver:
        for _ in range(self._inflight):
            async with asyncio.timeout(self._timeout):
                self._conns.append(await asyncio.open_connection(
                    self._host, self._port, limit=_HEAD_LIMIT * 4))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _, writer in self._conns:
            writer.close()
        for _, writer in self._conns:
            # the server may have gone first: then there is nothing to wait for
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), self._timeout)
        self._conns.clear()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self._before + secrets.token_hex(16).encode() + self._after)
        head = await reader.readuntil(b"\r\n\r\n")
        status, _, rest = head.partition(b"\r\n")
        length = None
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"no Content-Length: {head[:200]!r}")
        body = await reader.readexactly(length)
        if not status.startswith(b"HTTP/1.1 200") or b'"error"' in body \
                or b"TASK_STATE_COMPLETED" not in body:
            raise RuntimeError(f"not completed: {status!r} {body[:200]!r}")

    async def drive(self, n: int) -> tuple[list[float], float, int]:
        """``n`` SendMessage calls, one connection per request in flight; returns the
        latencies of the answered ones, the wall time and the failures. A connection
        whose request failed is not reused (its stream may be mid-reply)."""
        latencies: list[float] = []
        errors = 0
        left = n

        async def worker(index: int) -> None:
            nonlocal left, errors
            while left > 0:
                left -= 1
                reader, writer = self._conns[index]
                t0 = time.perf_counter()
                try:
                    async with asyncio.timeout(self._timeout):
                        await self._one(reader, writer)
                except (OSError, RuntimeError, TimeoutError, ValueError,
                        asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    errors += 1
                    writer.close()
                    async with asyncio.timeout(self._timeout):
                        self._conns[index] = await asyncio.open_connection(
                            self._host, self._port, limit=_HEAD_LIMIT * 4)
                    continue
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(len(self._conns))))
        return latencies, time.perf_counter() - start, errors
