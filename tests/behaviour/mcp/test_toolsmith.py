"""An A2A agent (Toolsmith) calling MCP tools over MQTT from its executor; one broker."""

from __future__ import annotations

import pytest
from a2a.types.a2a_pb2 import TaskState

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.toolsmith import ToolsmithExecutor, toolsmith_card
from a2a_mqtt.mcp.server import McpMqttServer
from tests.behaviour.conftest import serve, text
from tests.behaviour.mcp.conftest import CLI, Processes

pytestmark = pytest.mark.asyncio


async def test_agent_calls_mcp_tools(broker: MosquittoProcess, client: A2AMqttClient,
                                     ref: AgentRef, example: McpMqttServer,
                                     server_name: str) -> None:
    executor = ToolsmithExecutor(connection=ConnectionSettings(url=broker.url),
                                 server_name=server_name, timeout=20)
    async with serve(broker.url, ref, executor, toolsmith_card()):
        agent = client.transport_for(ref)
        added = (await agent.send_message(text('add {"a": 19, "b": 23}'))).task
        assert added.status.state == TaskState.TASK_STATE_COMPLETED
        assert added.artifacts[0].parts[0].text == "42"
        listed = (await agent.send_message(text("tools"))).task
        assert "word_count: Count the words in a text." in listed.artifacts[0].parts[0].text
        failed = (await agent.send_message(text("no_such_tool {}"))).task
        assert failed.status.state == TaskState.TASK_STATE_FAILED
        bad = (await agent.send_message(text("add [1]"))).task
        assert bad.status.state == TaskState.TASK_STATE_FAILED
    assert await example.wait_sessions(lambda n: n == 0, timeout=10) == 0


async def test_agent_fails_the_task_when_no_server_is_online(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    executor = ToolsmithExecutor(connection=ConnectionSettings(url=broker.url),
                                 server_name="no/such/server", timeout=1)
    async with serve(broker.url, ref, executor, toolsmith_card()):
        task = (await client.transport_for(ref).send_message(text("tools"))).task
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert "unreachable" in task.status.message.parts[0].text


async def test_toolsmith_command_serves_the_agent(broker: MosquittoProcess, client: A2AMqttClient,
                                                  ref: AgentRef, example: McpMqttServer,
                                                  server_name: str, processes: Processes) -> None:
    processes.start(CLI, "mcp", "toolsmith", server_name, "--agent", str(ref),
                    "--broker", broker.url)
    await client.resolve(ref, timeout=30)  # its retained card: the agent is up
    task = (await client.transport_for(ref).send_message(text('word_count {"text": "a b c"}'))).task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.artifacts[0].parts[0].text == "3"
