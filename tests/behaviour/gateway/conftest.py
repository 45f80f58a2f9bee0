"""Helpers for gateway tests: a real gateway (uvicorn on a free port) in front of real agents.

* ``gateway``: a :class:`GatewayServer` on the per-test Mosquitto, short timeouts.
* ``open_gateway(url, **overrides)``: the same with other options.
* ``showcase``: the showcase agent (every capability) served over MQTT at ``ref``.
* ``stock_client(http, card, binding)``: a2a-sdk's own Client for JSON-RPC or HTTP+JSON.
* ``gateway_card(http, gw, ref)``: the card the gateway serves for ``ref``.
* ``asgi_server(app)``: any ASGI app under uvicorn on a free port (webhooks, HTTP agents).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from a2a.client import Client, ClientConfig, ClientFactory
from a2a.client.card_resolver import A2ACardResolver
from a2a.types.a2a_pb2 import AgentCard, Message, Part, Role, SendMessageRequest, Task

from a2a_mqtt._net import listen_socket
from a2a_mqtt._uvicorn import EmbeddedUvicorn
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card, showcase_extended_card
from a2a_mqtt.gateway import GatewayConfig, GatewayServer
from a2a_mqtt.server import AgentServer
from tests.behaviour.conftest import serve

BINDINGS = ("JSONRPC", "HTTP+JSON")


@asynccontextmanager
async def asgi_server(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (free port) until exit; yields ``http://127.0.0.1:PORT``."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
                            timeout_graceful_shutdown=1)
    sock = listen_socket("127.0.0.1", 0)  # with TCP_NODELAY on its connections
    server = EmbeddedUvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="test-asgi-server")
    async with asyncio.timeout(10):
        await server.listening.wait()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task


@asynccontextmanager
async def open_gateway(broker_url: str, **overrides: Any) -> AsyncIterator[GatewayServer]:
    overrides.setdefault("port", 0)
    overrides.setdefault("reply_timeout", 5.0)
    overrides.setdefault("stream_idle_timeout", 10.0)
    overrides.setdefault("shutdown_grace", 1.0)
    async with GatewayServer(GatewayConfig(connection=ConnectionSettings(url=broker_url),
                                           **overrides)) as server:
        yield server


@pytest_asyncio.fixture
async def gateway(broker: MosquittoProcess) -> AsyncIterator[GatewayServer]:
    async with open_gateway(broker.url) as server:
        yield server


@pytest_asyncio.fixture
async def showcase(broker: MosquittoProcess, ref: AgentRef) -> AsyncIterator[AgentServer]:
    async with serve(broker.url, ref, ShowcaseExecutor(), showcase_card(),
                     extended_card=showcase_extended_card()) as server:
        yield server


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20.0) as client:
        yield client


async def known(gw: GatewayServer, ref: AgentRef, *, online: bool = True) -> None:
    """Wait (bounded) until the gateway's directory has ``ref`` in the given state."""
    discovery = gw.gateway.mqtt.discovery
    await discovery.resolve(ref, timeout=5.0)
    watch = discovery.watch()
    try:
        async with asyncio.timeout(5.0):
            async for event in watch:
                if event.entry.ref == ref and event.entry.online == online:
                    return
    finally:
        await watch.aclose()


def agent_url(gw: GatewayServer, ref: AgentRef) -> str:
    return f"{gw.url}/{ref}"


async def gateway_card(http: httpx.AsyncClient, gw: GatewayServer, ref: AgentRef) -> AgentCard:
    await known(gw, ref)
    return await A2ACardResolver(http, agent_url(gw, ref)).get_agent_card()


def stock_client(http: httpx.AsyncClient, card: AgentCard, binding: str, *,
                 streaming: bool = True) -> Client:
    """a2a-sdk's own client, restricted to one HTTP binding of the gateway's card."""
    config = ClientConfig(httpx_client=http, streaming=streaming,
                          supported_protocol_bindings=[binding])
    return ClientFactory(config).create(card)


def message(body: str, *, message_id: str | None = None, task_id: str = "",
            context_id: str = "", media_type: str = "") -> SendMessageRequest:
    part = Part(text=body, media_type=media_type)
    return SendMessageRequest(message=Message(
        message_id=message_id or str(uuid.uuid4()), role=Role.ROLE_USER, parts=[part],
        task_id=task_id, context_id=context_id))


async def unary(client: Client, request: SendMessageRequest, **kwargs: Any) -> Task:
    """Send with a non-streaming client and return the one Task it answers with."""
    events = [e async for e in client.send_message(request, **kwargs)]
    assert len(events) == 1 and events[0].HasField("task"), events
    return events[0].task


@pytest.fixture(params=BINDINGS)
def binding(request: pytest.FixtureRequest) -> str:
    return str(request.param)
