"""The official SDK's client and servers, talking over a real Mosquitto."""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types
import pytest
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import McpMqttTransport, open_session
from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig
from tests.behaviour.mcp.conftest import client_config

pytestmark = pytest.mark.asyncio


async def test_tools_resources_prompts(broker: MosquittoProcess, example: McpMqttServer,
                                       server_name: str) -> None:
    async with open_session(client_config(broker.url, server_name)) as session:
        tools = await session.list_tools()
        assert {"add", "echo", "word_count", "learn"} <= {t.name for t in tools.tools}
        result = await session.call_tool("add", {"a": 2, "b": 40})
        assert result.structured_content == {"result": 42}
        assert not result.is_error
        resources = await session.list_resources()
        assert [str(r.uri) for r in resources.resources] == ["example://motd"]
        read = await session.read_resource("example://motd")
        assert read.contents[0].text == "Tools travel over MQTT today."  # type: ignore[union-attr]
        prompt = await session.get_prompt("review", {"code": "x = 1"})
        assert "x = 1" in prompt.messages[0].content.text  # type: ignore[union-attr]


async def test_tool_errors_and_unknown_tools_come_back_as_results(
        broker: MosquittoProcess, example: McpMqttServer, server_name: str) -> None:
    async with open_session(client_config(broker.url, server_name)) as session:
        result = await session.call_tool("no_such_tool", {})
        assert result.is_error
        bad = await session.call_tool("add", {"a": "not a number", "b": 1})
        assert bad.is_error
        assert (await session.call_tool("echo", {"text": "still here"})).structured_content == {
            "result": "still here"}


def _lowlevel() -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> mcp_types.ListToolsResult:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return mcp_types.ListToolsResult(tools=[mcp_types.Tool(name="shout", input_schema=schema)])

    async def call_tool(ctx: ServerRequestContext[Any],
                        params: mcp_types.CallToolRequestParams) -> mcp_types.CallToolResult:
        text = str((params.arguments or {}).get("text", ""))
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text",
                                                                        text=text.upper())])

    return Server("lowlevel", on_list_tools=list_tools, on_call_tool=call_tool)


async def test_lowlevel_server(broker: MosquittoProcess, server_name: str) -> None:
    config = McpServerConfig(connection=ConnectionSettings(url=broker.url), server_name=server_name)
    async with McpMqttServer(config=config, app=_lowlevel()), \
            open_session(client_config(broker.url, server_name)) as session:
        assert [t.name for t in (await session.list_tools()).tools] == ["shout"]
        result = await session.call_tool("shout", {"text": "hi"})
        assert result.content[0].text == "HI"  # type: ignore[union-attr]


async def test_list_changed_reaches_every_session(broker: MosquittoProcess,
                                                  example: McpMqttServer,
                                                  server_name: str) -> None:
    seen: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}

    def handler(key: str) -> Any:
        async def handle(message: Any) -> None:
            if isinstance(message, mcp_types.ToolListChangedNotification):
                seen[key].set()
        return handle

    # Both sessions on one instance: the change is announced on its capability topic.
    cfg = client_config(broker.url, server_name, server_id=example.server_id)
    async with open_session(cfg, message_handler=handler("a")) as first, \
            open_session(cfg, message_handler=handler("b")) as second:
        assert (await first.call_tool("learn", {"name": "meaning", "answer": "42"})).content
        async with asyncio.timeout(10):
            await seen["a"].wait()
            await seen["b"].wait()
        names = {t.name for t in (await second.list_tools()).tools}
        assert "meaning" in names
        assert (await second.call_tool("meaning", {})).content[0].text == "42"  # type: ignore[union-attr]


async def test_many_sessions_share_one_server_connection(
        broker: MosquittoProcess, example: McpMqttServer, server_name: str) -> None:
    count = 8
    ready = asyncio.Event()
    arrived = 0

    async def one(i: int) -> Any:
        nonlocal arrived
        async with open_session(client_config(broker.url, server_name)) as session:
            arrived += 1
            if arrived == count:
                ready.set()
            await ready.wait()  # every session is open at once
            return (await session.call_tool("add", {"a": i, "b": 1})).structured_content

    task = asyncio.gather(*(one(i) for i in range(count)))
    assert await example.wait_sessions(lambda n: n == count, timeout=20) == count
    results = await task
    assert results == [{"result": i + 1} for i in range(count)]
    assert await example.wait_sessions(lambda n: n == 0, timeout=10) == 0


async def test_clean_client_exit_ends_the_server_session_and_a_new_one_starts(
        broker: MosquittoProcess, example: McpMqttServer, server_name: str) -> None:
    transport = McpMqttTransport(config=client_config(broker.url, server_name))
    first_id = ""
    from mcp.client import ClientSession
    async with transport as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        first_id = transport.client_id
        assert example.session_ids() == [first_id]
    await example.wait_sessions(lambda n: n == 0, timeout=10)
    async with transport as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert transport.client_id != first_id  # a new client id per initialize
        assert example.session_ids() == [transport.client_id]
        assert (await session.call_tool("echo", {"text": "again"})).structured_content == {
            "result": "again"}


async def test_server_stop_ends_client_sessions_promptly(broker: MosquittoProcess,
                                                         server_name: str) -> None:
    from a2a_mqtt.mcp.example_server import build_example_server
    config = McpServerConfig(connection=ConnectionSettings(url=broker.url), server_name=server_name)
    server = McpMqttServer(config=config, app=build_example_server())
    await server.__aenter__()
    try:
        async with open_session(client_config(broker.url, server_name)) as session:
            await session.list_tools()
            await server.stop()
            with pytest.raises(MCPError) as failure:
                async with asyncio.timeout(10):
                    await session.list_tools()
            assert failure.value.error.code == mcp_types.CONNECTION_CLOSED
    finally:
        await server.stop()


async def test_client_chooses_among_instances_of_one_name(broker: MosquittoProcess,
                                                          server_name: str) -> None:
    from a2a_mqtt.mcp.example_server import build_example_server
    configs = [McpServerConfig(connection=ConnectionSettings(url=broker.url),
                               server_name=server_name, server_id=sid)
               for sid in ("inst-a", "inst-b")]
    async with McpMqttServer(config=configs[0], app=build_example_server()) as a, \
            McpMqttServer(config=configs[1], app=build_example_server()) as b:
        seen: list[list[str]] = []

        def last(instances: Any) -> Any:
            seen.append([i.server_id for i in instances])
            return instances[-1]

        transport = McpMqttTransport(config=client_config(broker.url, server_name, choose=last))
        from mcp.client import ClientSession
        async with transport as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert seen == [["inst-a", "inst-b"]]  # both retained presences were considered
            assert (a.sessions, b.sessions) == (0, 1)
            assert (await session.call_tool("add", {"a": 1, "b": 2})).structured_content == {
                "result": 3}
        # Sessions spread with the default (random) choice.
        for _ in range(16):
            async with open_session(client_config(broker.url, server_name)):
                pass
        assert a.session_ids() == b.session_ids() == []
        # 16 uniform picks all landing on one side: probability 2**-15.
        assert a.sessions_served >= 1
        assert b.sessions_served >= 2
