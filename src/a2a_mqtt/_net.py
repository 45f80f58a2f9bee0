"""The listening socket the gateway and the registry hand to uvicorn."""

from __future__ import annotations

import socket

__all__ = ["listen_socket"]

_BACKLOG = 2048  # uvicorn's own default: connections wait here until it accepts them


def listen_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on ``host:port`` (IPv4 or IPv6, by address).

    ``host=""`` means every interface, as it does for ``bind``. A bind failure
    raises :class:`OSError` after closing the socket.

    It is created with ``IPPROTO_TCP``: asyncio sets TCP_NODELAY only on
    connections whose socket says so, which accepted sockets inherit from this
    one (uvicorn's own ``bind_socket`` leaves it 0). Without it every response
    would stall about 40 ms on Nagle's algorithm and the client's delayed ACK.
    """
    # getaddrinfo refuses "", which bind takes for the wildcard; None is its wildcard.
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP,
        flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)  # served on an asyncio loop
    sock.set_inheritable(True)  # as uvicorn's bind_socket, for servers that fork workers
    return sock
