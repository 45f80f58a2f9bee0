"""The broker goes away and comes back: sessions end cleanly, the server announces
itself again and serves new sessions on its reconnected connection."""

from __future__ import annotations

import asyncio

import pytest
from mcp.shared.exceptions import MCPError

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import open_session
from a2a_mqtt.mcp.config import DirectoryConfig
from a2a_mqtt.mcp.discovery import ServerDirectory
from a2a_mqtt.mcp.server import McpMqttServer
from tests.behaviour.mcp.conftest import client_config

pytestmark = pytest.mark.asyncio


async def test_server_survives_a_broker_restart(broker: MosquittoProcess, example: McpMqttServer,
                                                server_name: str) -> None:
    async with open_session(client_config(broker.url, server_name)) as session:
        await session.list_tools()
        broker.kill()  # the client's connection drops with it
        broker.start()
        with pytest.raises((MCPError, TimeoutError)):
            async with asyncio.timeout(15):
                await session.list_tools()
    # The server reconnects, drops the sessions clients have given up on, announces again.
    assert await example.wait_sessions(lambda n: n == 0, timeout=30) == 0
    async with ServerDirectory(config=DirectoryConfig(
            connection=ConnectionSettings(url=broker.url),
            name_filters=(server_name,))) as directory:
        online = await directory.watch.wait_for(server_name, timeout=30)
        assert [i.server_id for i in online] == [example.server_id]
    async with open_session(client_config(broker.url, server_name)) as session:
        assert (await session.call_tool("add", {"a": 5, "b": 5})).structured_content == {
            "result": 10}
