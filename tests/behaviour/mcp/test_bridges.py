"""Bridges: a stdio MCP server and a streamable-HTTP one exposed on MQTT; a stock
stdio MCP client reaching an MQTT server through ``a2a-mqtt mcp bridge``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from mcp.client import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from a2a_mqtt._uvicorn import EmbeddedUvicorn
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.broker.config import free_port
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.bridge import http_upstream, upstream_host
from a2a_mqtt.mcp.client import open_session
from a2a_mqtt.mcp.discovery import DirectoryConfig, ServerDirectory
from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig
from tests.behaviour.mcp.conftest import CLI, Processes, client_config

pytestmark = pytest.mark.asyncio


async def wait_online(url: str, name: str) -> None:
    async with ServerDirectory(config=DirectoryConfig(connection=ConnectionSettings(url=url),
                                                      name_filters=(name,))) as d:
        await d.watch.wait_for(name, timeout=30)


async def test_expose_stdio_server(broker: MosquittoProcess, processes: Processes,
                                   server_name: str) -> None:
    processes.start(CLI, "mcp", "expose", "--broker", broker.url, "--name", server_name,
                    "--", sys.executable, "-m", "a2a_mqtt.mcp.example_server")
    await wait_online(broker.url, server_name)

    async def one(i: int) -> object:
        async with open_session(client_config(broker.url, server_name)) as session:
            assert "word_count" in {t.name for t in (await session.list_tools()).tools}
            return (await session.call_tool("add", {"a": i, "b": 100})).structured_content

    # Two sessions at once: each gets its own upstream process.
    assert await asyncio.gather(one(1), one(2)) == [{"result": 101}, {"result": 102}]


@asynccontextmanager
async def http_example() -> AsyncIterator[str]:
    port = free_port()
    app = build_example_server().streamable_http_app()
    server = EmbeddedUvicorn(uvicorn.Config(app, host="127.0.0.1", port=port,
                                             log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(), name="test-http-mcp")
    try:
        async with asyncio.timeout(20):
            await server.listening.wait()
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


async def test_expose_streamable_http_server(broker: MosquittoProcess, server_name: str) -> None:
    async with http_example() as url:
        config = McpServerConfig(connection=ConnectionSettings(url=broker.url),
                                 server_name=server_name)
        async with McpMqttServer(config=config, host=upstream_host(http_upstream(url))), \
                open_session(client_config(broker.url, server_name)) as session:
            result = await session.call_tool("echo", {"text": "via http"})
            assert result.structured_content == {"result": "via http"}
            read = await session.read_resource("example://motd")
            assert "MQTT" in read.contents[0].text  # type: ignore[union-attr]


async def test_stdio_client_through_mcp_bridge(broker: MosquittoProcess, example: McpMqttServer,
                                               server_name: str) -> None:
    params = StdioServerParameters(command=CLI, args=[
        "mcp", "bridge", server_name, "--broker", broker.url])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert "add" in {t.name for t in (await session.list_tools()).tools}
        assert (await session.call_tool("add", {"a": 20, "b": 22})).structured_content == {
            "result": 42}
        prompt = await session.get_prompt("review", {"code": "print(1)"})
        assert "print(1)" in prompt.messages[0].content.text  # type: ignore[union-attr]
        assert example.sessions == 1
    assert await example.wait_sessions(lambda n: n == 0, timeout=15) == 0
