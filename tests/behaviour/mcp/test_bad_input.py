"""Hostile input on the control and RPC topics: JSON-RPC errors where an answer is
possible, logged-and-dropped where not, and the server keeps serving."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig
from tests.behaviour.mcp.rawpaho import RawClient
from tests.behaviour.mcp.test_wire_conformance import (
    SPEC_INITIALIZE,
    SPEC_INITIALIZED,
    client_props,
)

pytestmark = pytest.mark.asyncio

LIMIT = 4096


@pytest_asyncio.fixture
async def small(broker: MosquittoProcess, server_name: str) -> AsyncIterator[McpMqttServer]:
    config = McpServerConfig(connection=ConnectionSettings(url=broker.url), server_name=server_name,
                             max_message_bytes=LIMIT)
    async with McpMqttServer(config=config, app=build_example_server()) as server:
        yield server


@pytest.fixture
def raw(broker: MosquittoProcess, unique_id: str) -> Iterator[RawClient]:
    client = RawClient(broker.url, f"raw-{unique_id}")
    yield client
    client.close()


def control(server: McpMqttServer) -> str:
    return f"$mcp-server/{server.server_id}/{server.server_name}"


def rpc_topic(raw: RawClient, server: McpMqttServer) -> str:
    return f"$mcp-rpc/{raw.client_id}/{server.server_id}/{server.server_name}"


async def initialize(raw: RawClient, server: McpMqttServer) -> str:
    rpc = rpc_topic(raw, server)
    raw.subscribe(rpc, no_local=True)
    raw.publish(control(server), json.dumps(SPEC_INITIALIZE).encode(),
                user_properties=client_props(raw.client_id))
    assert (await raw.next()).json()["id"] == 1
    raw.publish(rpc, json.dumps(SPEC_INITIALIZED).encode(),
                user_properties=client_props(raw.client_id))
    return rpc


async def still_serves(raw: RawClient, rpc: str, rid: int = 99) -> None:
    raw.publish(rpc, json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {
        "name": "add", "arguments": {"a": 1, "b": 2}}}).encode(),
        user_properties=client_props(raw.client_id))
    reply = (await raw.next()).json()
    assert reply["id"] == rid
    assert reply["result"]["structuredContent"] == {"result": 3}


@pytest.mark.parametrize(("payload", "code", "rid"), [
    (b"\x00\xffnot json", -32700, None),
    (b"[1, 2]", -32600, None),
    (b'{"jsonrpc":"2.0","id":7,"method":42}', -32600, 7),
    (b'{"jsonrpc":"2.0","id":8,"method":"no/such/method"}', -32601, 8),
    (b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":5}}', -32602, 9),
    (b'{"jsonrpc":"2.0","id":10,"method":"ping","params":{"pad":"' + b"x" * LIMIT + b'"}}',
     -32600, None),
])
async def test_bad_rpc_messages_get_errors(raw: RawClient, small: McpMqttServer,
                                           payload: bytes, code: int, rid: object) -> None:
    rpc = await initialize(raw, small)
    raw.publish(rpc, payload, user_properties=client_props(raw.client_id))
    reply = await raw.next()
    assert reply.topic == rpc
    body = reply.json()
    assert body["error"]["code"] == code, body
    assert body["id"] == rid
    await still_serves(raw, rpc)
    assert small.sessions == 1


@pytest.mark.parametrize("payload", [
    b'{"jsonrpc":"1.0","method":"x"}',                      # malformed notification
    b'{"jsonrpc":"2.0","id":123,"result":{}}',              # response to nothing
    b'{"jsonrpc":"2.0","method":"notifications/unknown"}',  # unknown notification
])
async def test_unanswerable_rpc_messages_are_dropped(raw: RawClient, small: McpMqttServer,
                                                     payload: bytes) -> None:
    rpc = await initialize(raw, small)
    raw.publish(rpc, payload, user_properties=client_props(raw.client_id))
    await still_serves(raw, rpc)  # the next message on the topic is the good reply
    assert await raw.fence() == []


@pytest.mark.parametrize(("payload", "code", "rid"), [
    (b"{broken", -32700, None),
    (b'{"jsonrpc":"2.0","id":4,"method":"tools/list"}', -32600, 4),  # no session yet
])
async def test_bad_control_messages_get_errors_on_the_rpc_topic(
        raw: RawClient, small: McpMqttServer, payload: bytes, code: int, rid: object) -> None:
    rpc = rpc_topic(raw, small)
    raw.subscribe(rpc, no_local=True)
    raw.publish(control(small), payload, user_properties=client_props(raw.client_id))
    body = (await raw.next()).json()
    assert (body["error"]["code"], body["id"]) == (code, rid)
    assert small.sessions == 0
    rpc = await initialize(raw, small)
    await still_serves(raw, rpc)


async def test_control_message_without_client_id_is_logged_and_dropped(
        raw: RawClient, small: McpMqttServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="a2a_mqtt.mcp"):
        raw.publish(control(small), json.dumps(SPEC_INITIALIZE).encode())
        raw.publish(control(small), json.dumps(SPEC_INITIALIZE).encode(),
                    user_properties=(("MCP-MQTT-CLIENT-ID", "bad/id"),))
        rpc = await initialize(raw, small)
    assert "without MCP-MQTT-CLIENT-ID" in caplog.text
    assert "unusable client id" in caplog.text
    await still_serves(raw, rpc)
    assert small.session_ids() == [raw.client_id]


async def test_oversized_control_message_and_duplicate_initialize(
        raw: RawClient, small: McpMqttServer) -> None:
    rpc = rpc_topic(raw, small)
    raw.subscribe(rpc, no_local=True)
    raw.publish(control(small), b"{" + b" " * LIMIT + b"}",
                user_properties=client_props(raw.client_id))
    assert (await raw.next()).json()["error"]["code"] == -32600
    rpc = await initialize(raw, small)
    raw.publish(control(small), json.dumps(SPEC_INITIALIZE).encode(),
                user_properties=client_props(raw.client_id))
    duplicate = (await raw.next()).json()
    assert duplicate["error"]["code"] == -32600
    assert "already has a session" in duplicate["error"]["message"]
    await still_serves(raw, rpc)


async def test_messages_for_an_unknown_session_reach_nobody(
        broker: MosquittoProcess, raw: RawClient, small: McpMqttServer, unique_id: str) -> None:
    rpc = await initialize(raw, small)
    ghost = RawClient(broker.url, f"ghost-{unique_id}")
    try:
        ghost_rpc = rpc_topic(ghost, small)
        ghost.subscribe(ghost_rpc, no_local=True)
        ghost.publish(ghost_rpc, b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
                      user_properties=client_props(ghost.client_id))
        await still_serves(raw, rpc)
        assert await ghost.fence() == []  # never initialized: the server does not listen there
    finally:
        ghost.close()
    assert small.session_ids() == [raw.client_id]
