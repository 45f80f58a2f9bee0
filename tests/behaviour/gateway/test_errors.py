"""Bad input and unreachable agents: the standard error, fast, and the gateway keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill
from a2a.utils.errors import InternalError

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, prepare_card
from a2a_mqtt.binding.topics import AgentRef, discovery_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.server import AgentServer
from a2a_mqtt.transport import PublishProperties
from tests.behaviour.gateway.conftest import (
    agent_url,
    gateway_card,
    known,
    message,
    open_gateway,
    stock_client,
)

pytestmark = pytest.mark.asyncio

V1 = {"A2A-Version": "1.0"}


def rpc(method: str, params: Any = None, rid: Any = 7) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        body["params"] = params
    return body


def msg(text: str = "hi") -> dict[str, Any]:
    return {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": text}]}}


async def test_unknown_agents_get_404_in_the_binding_format(
        http: httpx.AsyncClient, gateway: GatewayServer) -> None:
    r = await http.post(f"{gateway.url}/acme/lab/nobody", json=rpc("GetTask", {"id": "x"}),
                        headers=V1)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["data"][0]["reason"] == "AGENT_NOT_FOUND" and "acme/lab/nobody" in error["message"]
    r = await http.get(f"{gateway.url}/acme/lab/nobody/rest/tasks/x", headers=V1)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = await http.get(f"{gateway.url}/acme/lab/nobody/.well-known/agent-card.json")
    assert r.status_code == 404
    r = await http.get(f"{gateway.url}/not/an agent")
    assert r.status_code == 404 and "names no agent" in r.json()["error"]["message"]
    index = await http.get(f"{gateway.url}/?format=json")
    assert index.status_code == 200 and index.json() == {"agents": []}
    assert (await http.get(f"{gateway.url}/healthz")).json()["status"] == "ok"


async def test_malformed_json_rpc_gets_standard_errors_and_nothing_breaks(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef) -> None:
    await known(gateway, ref)
    url = agent_url(gateway, ref)

    async def code(status: int = 400, **kwargs: Any) -> int:
        r = await http.post(url, headers={**V1, "Content-Type": "application/json"}, **kwargs)
        assert r.status_code == status, r.text
        return int(r.json()["error"]["code"])

    # Malformed requests never reach a2a-sdk: 400 and the JSON-RPC error object.
    assert await code(content=b"{not json") == -32700
    assert await code(content=json.dumps([rpc("GetTask", {"id": "x"})])) == -32600
    assert await code(json={"jsonrpc": "1.0", "id": 1, "method": "GetTask"}) == -32600
    assert await code(json=rpc("NoSuchMethod", {})) == -32601
    assert await code(json=rpc("GetTask", "not an object")) == -32600
    assert await code(json=rpc("GetTask", {"id": {"not": "a string"}})) == -32602
    assert await code(json=rpc("SendMessage", {})) == -32602  # message is required
    # A well-formed request the agent refuses keeps a2a-sdk's JSON-RPC answer (200).
    assert await code(200, json=rpc("GetTask", {"id": "nope"})) == -32001
    r = await http.post(f"{url}/rest/message:send", json={}, headers=V1)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    # A wrong or missing A2A-Version is VersionNotSupportedError (-32009), as a2a-sdk decides.
    r = await http.post(url, json=rpc("SendMessage", msg()), headers={"A2A-Version": "99.0"})
    assert r.json()["error"]["code"] == -32009
    r = await http.post(url, json=rpc("SendMessage", msg()))
    assert r.json()["error"]["code"] == -32009
    # ...and the gateway still serves.
    r = await http.post(url, json=rpc("SendMessage", msg("fine")), headers=V1)
    assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_oversized_bodies_are_refused_before_parsing(
        broker: MosquittoProcess, http: httpx.AsyncClient, showcase: AgentServer,
        ref: AgentRef) -> None:
    async with open_gateway(broker.url, max_body_bytes=2048) as gw:
        await known(gw, ref)
        url = agent_url(gw, ref)
        big = rpc("SendMessage", msg("x" * 5000))
        r = await http.post(url, json=big, headers=V1)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == -32600 and "too large" in r.json()["error"]["message"]
        r = await http.post(f"{url}/rest/message:send", json=msg("x" * 5000), headers=V1)
        assert r.status_code == 413
        assert r.json()["error"]["details"][0]["reason"] == "INVALID_REQUEST"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(10):
                yield b" " * 1000
        r = await http.post(f"{url}/rest/message:send", content=chunks(), headers=V1)
        assert r.status_code == 413
        r = await http.post(url, json=rpc("SendMessage", msg("small")), headers=V1)
        assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_offline_agent_is_a_fast_503(
        broker: MosquittoProcess, http: httpx.AsyncClient, gateway: GatewayServer,
        showcase: AgentServer, ref: AgentRef, binding: str) -> None:
    card = await gateway_card(http, gateway, ref)
    await showcase.stop()  # graceful: the card is republished offline
    await known(gateway, ref, online=False)
    started = time.monotonic()
    r = await http.post(agent_url(gateway, ref), json=rpc("SendMessage", msg()), headers=V1)
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.json()["id"] == 7 and r.json()["error"]["code"] == -32603
    assert r.json()["error"]["data"][0]["reason"] == "AGENT_UNAVAILABLE"
    r = await http.get(f"{agent_url(gateway, ref)}/rest/tasks/x", headers=V1)
    assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE"
    with pytest.raises(A2AClientError, match="503"):
        _ = [e async for e in stock_client(http, card, binding).send_message(message("x"))]
    assert time.monotonic() - started < 2.0
    # The card is still served: it says where the agent would be.
    assert (await http.get(f"{agent_url(gateway, ref)}/.well-known/agent-card.json")
            ).status_code == 200


async def _ghost(broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    """A retained card marked online for an agent nobody serves."""
    card = AgentCard(name="Ghost", description="Nobody serves me.", version="1.0.0",
                     capabilities=AgentCapabilities(), skills=[AgentSkill(
                         id="s", name="s", description="s", tags=["t"])])
    payload = encode_card(prepare_card(card, ref=ref, broker_url=broker.url))
    await client.requester.transport.publish(
        discovery_topic(ref), payload, qos=1, retain=True,
        properties=PublishProperties(user_properties=P.status_properties("online", "agent")))


async def test_card_online_but_nobody_subscribed_is_a_fast_503(
        broker: MosquittoProcess, http: httpx.AsyncClient, client: A2AMqttClient,
        ref: AgentRef) -> None:
    await _ghost(broker, client, ref)
    async with open_gateway(broker.url, reply_timeout=5.0) as gw:
        await known(gw, ref)
        started = time.monotonic()
        r = await http.post(agent_url(gw, ref), json=rpc("GetTask", {"id": "x"}), headers=V1)
        assert r.status_code == 503  # PUBACK 0x10 "no matching subscribers"
        error = r.json()["error"]["data"][0]
        assert error["metadata"]["mqtt_error"] == "responder_unavailable"
        assert time.monotonic() - started < 2.0  # not the 5 s reply timeout


async def test_slow_agent_is_a_504(broker: MosquittoProcess, http: httpx.AsyncClient,
                                   showcase: AgentServer, ref: AgentRef) -> None:
    async with open_gateway(broker.url, reply_timeout=0.5) as gw:
        await known(gw, ref)
        r = await http.post(f"{agent_url(gw, ref)}/rest/message:send", json=msg("slow 5"),
                            headers=V1)
        assert r.status_code == 504
        assert r.json()["error"]["status"] == "DEADLINE_EXCEEDED"


async def test_agent_killed_mid_stream_ends_the_stream_at_once(
        broker: MosquittoProcess, http: httpx.AsyncClient, ref: AgentRef,
        binding: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent", str(ref),
         "--broker", broker.url, "--session-expiry", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with open_gateway(broker.url, stream_idle_timeout=60.0) as gw:
            client = stock_client(http, await gateway_card(http, gw, ref), binding)
            request = message("hold")
            request.metadata.update({"delay": 30})
            stream = client.send_message(request)
            assert (await anext(stream)).HasField("task")
            assert (await anext(stream)).HasField("status_update")  # WORKING: it is running
            started = time.monotonic()
            os.kill(proc.pid, signal.SIGKILL)
            with pytest.raises((InternalError, A2AClientError), match="went offline"):
                async with asyncio.timeout(20):
                    _ = [e async for e in stream]
            assert time.monotonic() - started < 10.0  # the will, not the 60 s idle timeout
            assert gw.gateway.inflight.waiting(ref) == 0
            await gw.gateway.inflight.wait_idle(5.0)
            r = await http.post(agent_url(gw, ref), json=rpc("GetTask", {"id": "x"}),
                                headers=V1)
            assert r.status_code == 503  # now known to be offline
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
