"""Several instances under one server name; a crash clears presence through the Will."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import McpMqttTransport, open_session
from a2a_mqtt.mcp.discovery import DirectoryConfig, ServerDirectory
from a2a_mqtt.mcp.presence import PresenceChange
from tests.behaviour.mcp.conftest import CLI, Processes, client_config

pytestmark = pytest.mark.asyncio


def serve_example(processes: Processes, url: str, name: str, server_id: str) -> None:
    processes.start(CLI, "mcp", "serve-example", "--broker", url, "--name", name,
                    "--server-id", server_id)


async def _wait_online(directory: ServerDirectory, name: str, ids: set[str]) -> None:
    async with asyncio.timeout(30):
        while {i.server_id for i in directory.watch.book.instances(name)} != ids:
            await directory.watch.wait_change(None)


async def test_kill_9_clears_presence_and_new_sessions_go_to_the_survivor(
        broker: MosquittoProcess, processes: Processes, server_name: str, unique_id: str) -> None:
    first, second = f"a-{unique_id}", f"b-{unique_id}"
    async with ServerDirectory(config=DirectoryConfig(
            connection=ConnectionSettings(url=broker.url),
            name_filters=(server_name,))) as directory:
        serve_example(processes, broker.url, server_name, first)
        serve_example(processes, broker.url, server_name, second)
        await _wait_online(directory, server_name, {first, second})

        # Both instances serve: pin a session to each.
        for sid in (first, second):
            async with open_session(client_config(broker.url, server_name, server_id=sid)) as s:
                assert (await s.call_tool("add", {"a": 1, "b": 1})).structured_content == {
                    "result": 2}

        events = directory.events()
        next_event = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)  # the iterator registers its listener
        victim = processes.started[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        async with asyncio.timeout(30):  # Mosquitto sends the Will when the socket closes
            event = await next_event
        assert (event.change, event.server_id) == (PresenceChange.OFFLINE, first)

    # A fresh watcher sees only the survivor: the Will cleared the retained presence.
    async with ServerDirectory(config=DirectoryConfig(
            connection=ConnectionSettings(url=broker.url), name_filters=(server_name,))) as fresh:
        assert [i.server_id for i in await fresh.settled()] == [second]

    for _ in range(5):
        transport = McpMqttTransport(config=client_config(broker.url, server_name))
        from mcp.client import ClientSession
        async with transport as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert transport.server is not None
            assert transport.server.server_id == second
            assert (await session.call_tool("echo", {"text": "ok"})).structured_content == {
                "result": "ok"}


async def test_clean_stop_clears_presence(broker: MosquittoProcess, processes: Processes,
                                          server_name: str, unique_id: str) -> None:
    async with ServerDirectory(config=DirectoryConfig(
            connection=ConnectionSettings(url=broker.url),
            name_filters=(server_name,))) as directory:
        serve_example(processes, broker.url, server_name, f"s-{unique_id}")
        await _wait_online(directory, server_name, {f"s-{unique_id}"})
        processes.started[0].send_signal(signal.SIGTERM)
        assert processes.started[0].wait(timeout=20) == 0
        await _wait_online(directory, server_name, set())


async def test_killed_client_process_session_ends_through_its_will(
        broker: MosquittoProcess, processes: Processes, server_name: str) -> None:
    from a2a_mqtt.mcp.example_server import build_example_server
    from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig

    script = (
        "import asyncio, sys\n"
        "from a2a_mqtt.connection import ConnectionSettings\n"
        "from a2a_mqtt.mcp.client import McpClientConfig, open_session\n"
        "async def main():\n"
        f"    cfg = McpClientConfig(connection=ConnectionSettings(url={broker.url!r}),\n"
        f"                          server_name={server_name!r})\n"
        "    async with open_session(cfg) as s:\n"
        "        await s.list_tools()\n"
        "        print('ready', flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    config = McpServerConfig(connection=ConnectionSettings(url=broker.url), server_name=server_name)
    async with McpMqttServer(config=config, app=build_example_server()) as server:
        client = processes.start(sys.executable, "-c", script, stdout=subprocess.PIPE)
        assert client.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(client.stdout.readline), 30)
        assert line.strip() == b"ready"
        assert server.sessions == 1
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=10)
        assert await server.wait_sessions(lambda n: n == 0, timeout=30) == 0
        # The restarted client gets a new session on the same server connection.
        async with open_session(client_config(broker.url, server_name)) as session:
            assert server.sessions == 1
            assert (await session.call_tool("add", {"a": 2, "b": 2})).structured_content == {
                "result": 4}
