"""``a2a-mqtt mcp``: MCP over MQTT from the shell.

``list``, ``tools``, ``call`` act as an MCP client; ``serve-example`` serves
the example server; ``expose`` puts a stdio command or a streamable-HTTP URL on
MQTT; ``bridge`` lets a stdio MCP host reach an MQTT server (stdout is the MCP
wire then, so it prints nothing else); ``toolsmith`` serves the example A2A
agent that calls an MCP server's tools.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import click

from a2a_mqtt.cli.common import Settings, common
from a2a_mqtt.cli.output import echo_json
from a2a_mqtt.errors import ConfigError

__all__ = ["mcp_group"]


def _client_config(s: Settings, server: str, server_id: str | None) -> Any:
    from a2a_mqtt.mcp.client import McpClientConfig  # noqa: PLC0415 - the SDK loads on demand

    try:
        return McpClientConfig(connection=s.conn.settings, server_name=server,
                               server_id=server_id,
                               discovery_timeout=s.timeout)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


async def _serve(make: Callable[[], Any]) -> None:
    """Make the server on the running loop, then ``serve()`` it (a2a_mqtt/service.py)."""
    server = make()
    await server.serve(on_ready=lambda: _announce(server))


def _server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--name", "server_name", required=True,
                     help="Server name, e.g. tools/example (a broker hint overrides it)."),
        click.option("--server-id", default="", help="MQTT client id (default: random)."),
        click.option("--description", default="", help="Presence description."),
    ]):
        f = opt(f)
    return f


def _server_config(s: Settings, server_name: str, server_id: str, description: str) -> Any:
    from a2a_mqtt.mcp.server import McpServerConfig  # noqa: PLC0415

    try:
        return McpServerConfig(connection=s.conn.settings, server_name=server_name,
                               server_id=server_id, description=description)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc


def _announce(server: Any) -> None:
    click.echo(f"serving {server.server_name} as {server.server_id} (Ctrl-C to stop)", err=True)


@click.group("mcp")
def mcp_group() -> None:
    """MCP servers and clients over MQTT (spec: emqx/mqtt-for-ai, 2025-03-26)."""


@mcp_group.command("list")
@click.option("--filter", "name_filter", default="#", show_default=True,
              help="Server-name filter (MQTT wildcards).")
@common
def list_cmd(s: Settings, name_filter: str) -> None:
    """List online server instances from their retained presence."""
    from a2a_mqtt.mcp.discovery import DirectoryConfig, list_servers  # noqa: PLC0415

    servers = s.run(list_servers(DirectoryConfig(
        connection=s.conn.settings, name_filters=(name_filter,))))
    if s.as_json:
        echo_json([{"serverName": i.server_name, "serverId": i.server_id,
                    "description": i.description, "meta": i.meta} for i in servers])
        return
    for i in servers:
        click.echo(f"{i.server_name}\t{i.server_id}\t{i.description}")


async def _with_session(config: Any, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from a2a_mqtt.mcp.client import open_session  # noqa: PLC0415

    async with asyncio.timeout(config.discovery_timeout + 60), open_session(config) as session:
        return await work(session)


@mcp_group.command("tools")
@click.argument("server")
@click.option("--server-id", default=None, help="Pin one instance.")
@common
def tools_cmd(s: Settings, server: str, server_id: str | None) -> None:
    """List the tools of SERVER (a server name)."""
    async def work(session: Any) -> Any:
        return await session.list_tools()

    result = s.run(_with_session(_client_config(s, server, server_id), work))
    if s.as_json:
        echo_json([t.model_dump(mode="json", by_alias=True, exclude_none=True)
                   for t in result.tools])
        return
    for tool in result.tools:
        click.echo(f"{tool.name}\t{tool.description or ''}")


@mcp_group.command("call")
@click.argument("server")
@click.argument("tool")
@click.option("--args", "args_json", default="{}", help="Tool arguments as a JSON object.")
@click.option("--server-id", default=None, help="Pin one instance.")
@common
def call_cmd(s: Settings, server: str, tool: str, args_json: str, server_id: str | None) -> None:
    """Call TOOL on SERVER; prints its text content (or the whole result with --json)."""
    try:
        arguments = json.loads(args_json)
    except ValueError as exc:
        raise click.BadParameter(f"--args is not JSON: {exc}") from exc
    if not isinstance(arguments, dict):
        raise click.BadParameter("--args must be a JSON object")

    async def work(session: Any) -> Any:
        return await session.call_tool(tool, arguments)

    result = s.run(_with_session(_client_config(s, server, server_id), work))
    if s.as_json:
        echo_json(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    else:
        for block in result.content:
            click.echo(getattr(block, "text", None) or block.model_dump_json())
    if result.is_error:
        raise SystemExit(1)


@mcp_group.command("serve-example")
@click.option("--name", "server_name", default="a2a-mqtt/example", show_default=True)
@click.option("--server-id", default="", help="MQTT client id (default: random).")
@click.option("--description", default="Example tools: add, echo, word_count, learn.")
@common
def serve_example(s: Settings, server_name: str, server_id: str, description: str) -> None:
    """Serve the example MCPServer (tools, a resource, a prompt) until interrupted."""
    from a2a_mqtt.mcp.example_server import build_example_server  # noqa: PLC0415
    from a2a_mqtt.mcp.server import McpMqttServer  # noqa: PLC0415

    config = _server_config(s, server_name, server_id, description)
    s.run(_serve(lambda: McpMqttServer(config=config, app=build_example_server())))


@mcp_group.command("expose", context_settings={"ignore_unknown_options": True})
@_server_options
@click.option("--url", default=None, help="A streamable-HTTP MCP endpoint to expose.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@common
def expose(s: Settings, server_name: str, server_id: str, description: str, url: str | None,
           command: tuple[str, ...]) -> None:
    """Put a stdio MCP server (``-- CMD ARGS...``) or ``--url`` on MQTT.

    A stdio server is started once per MQTT client session.
    """
    from a2a_mqtt.mcp.bridge import http_upstream, stdio_upstream, upstream_host  # noqa: PLC0415
    from a2a_mqtt.mcp.server import McpMqttServer  # noqa: PLC0415

    if bool(command) == bool(url):
        raise click.UsageError("give either --url or -- COMMAND ARGS...")
    upstream = http_upstream(url) if url else stdio_upstream(command[0], command[1:])
    config = _server_config(s, server_name, server_id, description)
    s.run(_serve(lambda: McpMqttServer(config=config, host=upstream_host(upstream))))


@mcp_group.command("bridge")
@click.argument("server")
@click.option("--server-id", default=None, help="Pin one instance.")
@common
def bridge(s: Settings, server: str, server_id: str | None) -> None:
    """Speak MCP on stdin/stdout and relay it to SERVER over MQTT (for stdio MCP hosts)."""
    from a2a_mqtt.mcp.bridge import bridge_stdio  # noqa: PLC0415

    s.run(bridge_stdio(_client_config(s, server, server_id)))


@mcp_group.command("toolsmith")
@click.argument("server")
@click.option("--agent", "agent_ref", default="demo/examples/toolsmith", show_default=True,
              help="The agent's reference org/unit/agent.")
@common
def toolsmith(s: Settings, server: str, agent_ref: str) -> None:
    """Serve the Toolsmith A2A agent, which calls the tools of MCP server SERVER."""
    from a2a_mqtt.binding.topics import AgentRef  # noqa: PLC0415
    from a2a_mqtt.examples.toolsmith import ToolsmithExecutor, toolsmith_card  # noqa: PLC0415
    from a2a_mqtt.server import AgentConfig, serve_agents  # noqa: PLC0415

    try:
        config = AgentConfig(
            ref=AgentRef.parse(agent_ref), card=toolsmith_card(),
            executor=ToolsmithExecutor(connection=s.conn.settings, server_name=server),
            connection=s.conn.settings, session_expiry=0)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(f"serving toolsmith as {config.ref} for MCP server {server} (Ctrl-C to stop)",
               err=True)
    s.run(serve_agents([config]))
