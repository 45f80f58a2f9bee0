"""CONNACK hints (MCP-SERVER-NAME, MCP-SERVER-NAME-FILTERS). Mosquitto sends none, so the
transport here reports them as a broker that does would; everything else is real."""

from __future__ import annotations

import pytest

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import McpMqttTransport
from a2a_mqtt.mcp.config import DirectoryConfig, McpServerConfig
from a2a_mqtt.mcp.discovery import ServerDirectory
from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.server import McpMqttServer
from a2a_mqtt.transport import ConnectOptions, Mqtt5Transport
from a2a_mqtt.transport.base import TransportFactory
from tests.behaviour.mcp.conftest import client_config

pytestmark = pytest.mark.asyncio


def hinting(*hints: tuple[str, str]) -> TransportFactory:
    class Hinted(Mqtt5Transport):
        @property
        def connack_user_properties(self) -> tuple[tuple[str, str], ...]:
            return hints

    def make(options: ConnectOptions) -> Mqtt5Transport:
        return Hinted(options)

    return make


async def test_server_takes_the_broker_suggested_name(broker: MosquittoProcess,
                                                      unique_id: str) -> None:
    hinted = f"hinted/{unique_id}"
    config = McpServerConfig(connection=ConnectionSettings(url=broker.url),
                             server_name=f"configured/{unique_id}",
                             transport_factory=hinting(("MCP-SERVER-NAME", hinted)))
    async with McpMqttServer(config=config, app=build_example_server()) as server:
        assert server.server_name == hinted
        assert server.presence_topic.endswith(f"/{hinted}")
        async with ServerDirectory(config=DirectoryConfig(
                connection=ConnectionSettings(url=broker.url))) as directory:
            listed = await directory.watch.wait_for(hinted, timeout=20)
            assert [i.server_id for i in listed] == [server.server_id]
            assert directory.watch.book.names() == [hinted]
        from mcp.client import ClientSession
        transport = McpMqttTransport(config=client_config(broker.url, hinted))
        async with transport as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert (await session.call_tool("add", {"a": 1, "b": 1})).structured_content == {
                "result": 2}


async def test_directory_uses_the_broker_suggested_filters(broker: MosquittoProcess,
                                                           unique_id: str) -> None:
    names = [f"allowed/{unique_id}", f"other/{unique_id}"]
    servers = [McpMqttServer(config=McpServerConfig(connection=ConnectionSettings(url=broker.url),
                                                    server_name=n),
                             app=build_example_server()) for n in names]
    for server in servers:
        await server.__aenter__()
    try:
        config = DirectoryConfig(
            connection=ConnectionSettings(url=broker.url), name_filters=("#",),
            transport_factory=hinting(("MCP-SERVER-NAME-FILTERS", '["allowed/#"]')))
        async with ServerDirectory(config=config) as directory:
            assert directory.filters == ("allowed/#",)
            await directory.watch.wait_for(names[0], timeout=20)
            # The other server's retained presence came in the same burst, had the
            # filter let it through; the fence of the burst is its end.
            assert [i.server_name for i in await directory.settled()] == [names[0]]
    finally:
        for server in servers:
            await server.stop()
