"""Wire conformance from outside: a bare paho client checks what our server and client
put on the broker against the spec's examples (mqtt_transport.md, 2025-03-26)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.mcp.server import McpMqttServer
from tests.behaviour.mcp.conftest import CLI, Processes
from tests.behaviour.mcp.rawpaho import RawClient

pytestmark = pytest.mark.asyncio

# Golden messages, verbatim from the spec text.
SPEC_INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2024-11-05",
               "capabilities": {"roots": {"listChanged": True}, "sampling": {}},
               "clientInfo": {"name": "ExampleClient", "version": "1.0.0"}},
}
SPEC_INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
SPEC_DISCONNECTED = {"jsonrpc": "2.0", "method": "notifications/disconnected"}


def client_props(client_id: str) -> tuple[tuple[str, str], ...]:
    return (("MCP-COMPONENT-TYPE", "mcp-client"), ("MCP-MQTT-CLIENT-ID", client_id))


@pytest.fixture
def raw(broker: MosquittoProcess, unique_id: str) -> Iterator[RawClient]:
    client = RawClient(broker.url, f"raw-{unique_id}",
                       connect_user_properties=(("MCP-COMPONENT-TYPE", "mcp-client"),
                                                ("MCP-META", "{}")))
    yield client
    client.close()


def assert_server_props(msg: object, server_id: str) -> None:
    props = msg.user_properties  # type: ignore[attr-defined]
    assert props["MCP-COMPONENT-TYPE"] == "mcp-server"
    assert props["MCP-MQTT-CLIENT-ID"] == server_id


async def test_retained_presence(raw: RawClient, example: McpMqttServer, server_name: str) -> None:
    raw.subscribe(f"$mcp-server/presence/+/{server_name}")
    msg = await raw.next()
    assert msg.topic == f"$mcp-server/presence/{example.server_id}/{server_name}"
    assert msg.retain
    assert_server_props(msg, example.server_id)
    body = msg.json()
    assert body["jsonrpc"] == "2.0"
    assert body["method"] == "notifications/server/online"
    assert "id" not in body
    assert body["params"]["server_name"] == server_name
    assert body["params"]["description"] == "example tools"


async def test_initialize_session_and_disconnect(raw: RawClient, example: McpMqttServer,
                                                 server_name: str) -> None:
    cid, sid = raw.client_id, example.server_id
    rpc = f"$mcp-rpc/{cid}/{sid}/{server_name}"
    raw.subscribe(f"$mcp-server/capability/{sid}/{server_name}")
    raw.subscribe(rpc, no_local=True)
    raw.publish(f"$mcp-server/{sid}/{server_name}", json.dumps(SPEC_INITIALIZE).encode(),
                user_properties=client_props(cid))
    reply = await raw.next()
    assert reply.topic == rpc
    assert_server_props(reply, sid)
    result = reply.json()
    assert result["id"] == 1
    assert result["result"]["protocolVersion"] == "2024-11-05"
    assert {"tools", "resources", "prompts"} <= set(result["result"]["capabilities"])
    assert result["result"]["serverInfo"]["name"] == "a2a-mqtt-example"
    raw.publish(rpc, json.dumps(SPEC_INITIALIZED).encode(), user_properties=client_props(cid))
    raw.publish(rpc, b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
                user_properties=client_props(cid))
    tools = await raw.next()
    assert tools.topic == rpc
    assert tools.json()["id"] == 2
    assert "add" in {t["name"] for t in tools.json()["result"]["tools"]}

    # list_changed goes to the server's capability topic, not the RPC topic.
    raw.publish(rpc, json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "learn", "arguments": {"name": "x", "answer": "y"}}}).encode(),
        user_properties=client_props(cid))
    got = {m.topic: m.json() for m in [await raw.next(), await raw.next()]}
    assert got[f"$mcp-server/capability/{sid}/{server_name}"] == {
        "jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    assert got[rpc]["id"] == 3

    # The client de-initializes on the RPC topic; the server drops the session.
    raw.publish(rpc, json.dumps(SPEC_DISCONNECTED).encode(), user_properties=client_props(cid))
    assert await example.wait_sessions(lambda n: n == 0, timeout=10) == 0


async def test_server_subscribes_before_it_replies(broker_factory: object, unique_id: str,
                                                   processes: Processes) -> None:
    """The broker's own log orders the server's SUBSCRIBEs before its initialize reply."""
    broker = broker_factory(log_types=("error", "warning", "notice", "information",  # type: ignore[operator]
                                       "subscribe", "debug"))
    name, sid = f"test/{unique_id}", f"s-{unique_id}"
    raw = RawClient(broker.url, f"raw-{unique_id}")
    try:
        raw.subscribe(f"$mcp-server/presence/+/{name}")
        processes.start(CLI, "mcp", "serve-example", "--broker", broker.url, "--name", name,
                        "--server-id", sid)
        await raw.next(30)  # online
        cid = raw.client_id
        rpc = f"$mcp-rpc/{cid}/{sid}/{name}"
        raw.subscribe(rpc, no_local=True)
        raw.publish(f"$mcp-server/{sid}/{name}", json.dumps(SPEC_INITIALIZE).encode(),
                    user_properties=client_props(cid))
        assert (await raw.next()).json()["id"] == 1
    finally:
        raw.close()
    log = broker.log_text()
    lines = log.splitlines()

    def first(pattern: str) -> int:
        for i, line in enumerate(lines):
            if re.search(pattern, line):
                return i
        raise AssertionError(f"{pattern!r} not in the broker log")

    reply = first(rf"Received PUBLISH from {re.escape(sid)} .*'{re.escape(rpc)}'")
    for topic in (rpc, f"$mcp-client/presence/{cid}", f"$mcp-client/capability/{cid}"):
        assert first(rf"{re.escape(sid)} \d+ {re.escape(topic)}$") < reply, topic


async def test_server_will_clears_presence(raw: RawClient, processes: Processes,
                                           broker: MosquittoProcess, unique_id: str) -> None:
    name, sid = f"test/{unique_id}", f"s-{unique_id}"
    presence = f"$mcp-server/presence/{sid}/{name}"
    raw.subscribe(f"$mcp-server/presence/+/{name}", retain_as_published=True)
    server = processes.start(CLI, "mcp", "serve-example", "--broker", broker.url, "--name", name,
                             "--server-id", sid)
    online = await raw.next(30)
    assert (online.topic, online.retain) == (presence, True)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    will = await raw.next(30)
    assert will.topic == presence
    assert will.payload == b""
    assert will.retain  # seen with Retain As Published: the Will is a retained clear
    assert_server_props(will, sid)
    # Nothing is retained any more.
    late = RawClient(broker.url, f"late-{unique_id}")
    try:
        late.subscribe(f"$mcp-server/presence/+/{name}")
        assert await late.fence() == []
    finally:
        late.close()


async def test_client_will_is_a_disconnected_notification(raw: RawClient, processes: Processes,
                                                          broker: MosquittoProcess,
                                                          example: McpMqttServer,
                                                          server_name: str) -> None:
    raw.subscribe("$mcp-client/presence/+")
    script = (
        "import asyncio\n"
        "from a2a_mqtt.connection import ConnectionSettings\n"
        "from a2a_mqtt.mcp.client import McpClientConfig, open_session\n"
        "async def main():\n"
        f"    cfg = McpClientConfig(connection=ConnectionSettings(url={broker.url!r}),\n"
        f"                          server_name={server_name!r})\n"
        "    async with open_session(cfg) as s:\n"
        "        print('ready', flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    client = processes.start(sys.executable, "-c", script, stdout=subprocess.PIPE)
    assert client.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(client.stdout.readline), 30)
    assert line.strip() == b"ready"
    [cid] = example.session_ids()
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=10)
    will = await raw.next(30)
    assert will.topic == f"$mcp-client/presence/{cid}"
    assert will.json() == SPEC_DISCONNECTED
    assert not will.retain
    assert will.user_properties == {"MCP-COMPONENT-TYPE": "mcp-client", "MCP-MQTT-CLIENT-ID": cid}
