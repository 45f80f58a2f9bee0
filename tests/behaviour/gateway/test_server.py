"""The gateway as a server: its sockets, its addresses, its start and stop."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from a2a.client.card_resolver import A2ACardResolver

from a2a_mqtt._net import listen_socket
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.server import AgentServer
from tests.behaviour.gateway.conftest import known, open_gateway

pytestmark = pytest.mark.asyncio


async def test_accepted_connections_have_tcp_nodelay() -> None:
    # Without TCP_NODELAY a response written in two parts waits ~40 ms for a delayed ACK.
    sock = listen_socket("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await asyncio.wait_for(accepted, 5) != 0
        writer.close()


async def test_port_in_use_is_a_clean_error(broker: MosquittoProcess,
                                            gateway: GatewayServer) -> None:
    port = int(gateway.url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="in use"):
        async with open_gateway(broker.url, port=port):
            pass
    async with httpx.AsyncClient() as http:  # the first one is unharmed
        assert (await http.get(f"{gateway.url}/healthz")).status_code == 200


async def test_public_url_is_written_into_cards(
        broker: MosquittoProcess, showcase: AgentServer, ref: AgentRef) -> None:
    async with open_gateway(broker.url, public_url="https://agents.example.com/a2a/") as gw, \
            httpx.AsyncClient() as http:
        await known(gw, ref)
        card = await A2ACardResolver(http, f"{gw.url}/{ref}").get_agent_card()
    assert card.supported_interfaces[0].url == f"https://agents.example.com/a2a/{ref}"
    assert card.supported_interfaces[1].url == f"https://agents.example.com/a2a/{ref}/rest"


async def _idle_close_seconds(url: str, wait: float) -> float | None:
    """Send one keep-alive request, then time how long the idle connection stays open."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        started = asyncio.get_running_loop().time()
        try:
            rest = await asyncio.wait_for(reader.read(), wait)  # b"" when the server closes
        except TimeoutError:
            return None
        assert rest == b""
        return asyncio.get_running_loop().time() - started
    finally:
        writer.close()


async def test_idle_keepalive_timeout_is_the_configured_one(broker: MosquittoProcess) -> None:
    # uvicorn's own default is 5 s: a connection closed within 3 s shows the setting applies.
    async with open_gateway(broker.url, keepalive_timeout=1.0) as gw:
        closed_after = await _idle_close_seconds(gw.url, wait=3.0)
    assert closed_after is not None and closed_after < 3.0


async def test_default_keepalive_outlasts_common_client_idle_timeouts() -> None:
    from a2a_mqtt.gateway import GatewayConfig
    assert GatewayConfig().keepalive_timeout > 60  # nginx upstream keepalive_timeout 60 s
