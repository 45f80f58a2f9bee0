"""The listening socket handed to uvicorn: TCP proto, address family, wildcard, errors."""

from __future__ import annotations

import socket

import pytest

from a2a_mqtt._net import listen_socket


def test_socket_is_tcp_so_asyncio_sets_nodelay() -> None:
    with listen_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert not sock.getblocking()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0


def test_empty_host_is_every_interface() -> None:
    with listen_socket("", 0) as sock:
        assert sock.getsockname()[0] == "0.0.0.0"


def test_ipv6_literal_gets_an_ipv6_socket() -> None:
    try:
        sock = listen_socket("::1", 0)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with sock:
        assert sock.family == socket.AF_INET6


def test_port_in_use_raises_oserror() -> None:
    with listen_socket("127.0.0.1", 0) as first, pytest.raises(OSError, match="in use"):
        listen_socket("127.0.0.1", first.getsockname()[1])
