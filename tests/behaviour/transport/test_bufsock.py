"""BufferedSocket over a real socket pair: batching, ordering, back-pressure, errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from a2a_mqtt.transport._bufsock import BufferedSocket


async def turns(n: int = 3) -> None:
    """Let the loop run its scheduled flushes."""
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_writes_are_batched_in_order_and_reads_are_buffered() -> None:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    errors: list[bool] = []
    buffered = BufferedSocket(
        ours, loop=asyncio.get_running_loop(), on_error=lambda: errors.append(True)
    )
    try:
        assert buffered.send(b"one,") == 4
        assert buffered.send(bytearray(b"two,")) == 4
        assert buffered.send(memoryview(b"three")) == 5
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.recv(100)  # nothing sent yet: the flush is scheduled, not done
        await turns()
        assert peer.recv(100) == b"one,two,three"
        with pytest.raises(BlockingIOError):
            buffered.recv(1)
        peer.sendall(b"abcdef")
        await turns()
        assert buffered.recv(1) == b"a"
        assert buffered.pending() == 5
        assert buffered.recv(2) == b"bc"
        assert buffered.recv(10) == b"def"
        assert buffered.pending() == 0
        assert errors == []
    finally:
        buffered.close()
        peer.close()


@pytest.mark.asyncio
async def test_back_pressure_waits_for_writability() -> None:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    buffered = BufferedSocket(ours, loop=asyncio.get_running_loop(), on_error=lambda: None)
    blob = bytes(range(256)) * 4096  # 1 MiB, far more than the socket buffer
    received = bytearray()
    try:
        buffered.send(blob)
        peer.setblocking(False)
        async with asyncio.timeout(10):
            while len(received) < len(blob):
                await asyncio.sleep(0.001)
                try:
                    received += peer.recv(1 << 20)
                except BlockingIOError:
                    continue
        assert received == blob
    finally:
        buffered.close()
        peer.close()


@pytest.mark.asyncio
async def test_write_error_is_reported_once_and_eof_reads_empty() -> None:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    errors: list[bool] = []
    buffered = BufferedSocket(
        ours, loop=asyncio.get_running_loop(), on_error=lambda: errors.append(True)
    )
    peer.close()
    try:
        assert buffered.recv(5) == b""  # EOF
        buffered.send(b"into the void")
        await turns()
        assert errors == [True]
        with pytest.raises(BrokenPipeError):
            buffered.send(b"again")
        await turns()
        assert errors == [True]
    finally:
        buffered.close()


@pytest.mark.asyncio
async def test_close_sends_what_is_buffered() -> None:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    buffered = BufferedSocket(ours, loop=asyncio.get_running_loop(), on_error=lambda: None)
    buffered.send(b"\xe0\x00")  # a DISCONNECT, queued and not yet flushed
    buffered.close()
    peer.settimeout(2)
    try:
        assert peer.recv(10) == b"\xe0\x00"
        assert peer.recv(10) == b""
        with pytest.raises(ValueError, match="non-blocking"):
            buffered.setblocking(True)
    finally:
        peer.close()
