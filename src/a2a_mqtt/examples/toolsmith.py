"""Toolsmith: an A2A agent whose executor calls MCP tools over MQTT.

The message text is ``TOOL {json arguments}`` (``add {"a": 2, "b": 3}``) or
``tools``. Each task opens its own MCP session on the named server (the spec
wants a fresh client id per ``initialize``, so sessions are not shared between
tasks), picks a live instance, reports which one in a WORKING status, and
returns the tool's text content as an artifact. A tool error fails the task
with the tool's message; an unreachable server fails it with the reason.

Serve it with ``serve(...)``/``AgentServer`` and a :class:`ToolsmithExecutor`
built for a broker and an MCP server name (see docs/mcp.md).
"""

from __future__ import annotations

import json
from typing import Any

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill, Part
from mcp.client import ClientSession

from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import A2AMqttError
from a2a_mqtt.examples.basic import CancellableExecutor
from a2a_mqtt.mcp.client import McpClientConfig, McpMqttTransport

__all__ = ["ToolsmithExecutor", "parse_call", "toolsmith_card"]


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """``TOOL {json}`` -> (tool, arguments); raises ValueError with a readable reason."""
    name, _, rest = text.strip().partition(" ")
    if not name:
        raise ValueError("say 'tools' or 'TOOL {json arguments}'")
    arguments = json.loads(rest) if rest.strip() else {}
    if not isinstance(arguments, dict):
        raise ValueError("the arguments must be a JSON object")  # noqa: TRY004 - user input
    return name, arguments


class ToolsmithExecutor(CancellableExecutor):
    """Calls tools of the MCP server ``server_name`` reached over ``connection``."""

    def __init__(self, *, connection: ConnectionSettings, server_name: str,
                 timeout: float = 60.0) -> None:
        self.config = McpClientConfig(connection=connection, server_name=server_name,
                                      discovery_timeout=min(timeout, 10.0))
        self.timeout = timeout

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        text = context.get_user_input().strip()
        try:
            call = None if text == "tools" else parse_call(text)
        except ValueError as exc:
            await updater.failed(updater.new_agent_message([Part(text=str(exc))]))
            return
        transport = McpMqttTransport(config=self.config)
        try:
            async with transport as (read, write), \
                    ClientSession(read, write, read_timeout_seconds=self.timeout) as session:
                await session.initialize()
                where = transport.server.server_id if transport.server else "?"
                await updater.start_work(updater.new_agent_message([Part(
                    text=f"using MCP server {self.config.server_name} (instance {where})")]))
                if call is None:
                    listed = await session.list_tools()
                    lines = [f"{t.name}: {t.description or ''}" for t in listed.tools]
                    await updater.add_artifact([Part(text="\n".join(lines))], name="tools")
                    await updater.complete()
                    return
                result = await session.call_tool(call[0], call[1])
        except (A2AMqttError, TimeoutError, OSError) as exc:
            await updater.failed(updater.new_agent_message([Part(
                text=f"MCP server {self.config.server_name} unreachable: {exc}")]))
            return
        body = "\n".join(getattr(block, "text", "") or block.model_dump_json()
                         for block in result.content)
        if result.is_error:
            await updater.failed(updater.new_agent_message([Part(text=body)]))
            return
        await updater.add_artifact([Part(text=body)], name=call[0])
        await updater.complete()


def toolsmith_card() -> AgentCard:
    return AgentCard(
        name="Toolsmith", description="Calls MCP tools over MQTT on your behalf.",
        version="1.0.0", capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[AgentSkill(id="mcp-call", name="Call an MCP tool",
                           description="'TOOL {json arguments}' calls it; 'tools' lists them.",
                           tags=["mcp", "tools"], examples=['add {"a": 2, "b": 3}', "tools"])])
