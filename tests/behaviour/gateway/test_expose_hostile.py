"""``gateway expose`` under hostile MQTT requests: JSON-RPC errors back over MQTT, no crash.

A real a2a-sdk HTTP agent (the showcase), exposed by :class:`ExposeHost` on a
real Mosquitto; a bare MQTT peer sends what a buggy or hostile requester
would. Every request gets exactly one terminal reply on its Response Topic,
and a valid request right after is still served end to end.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.gateway.expose import ExposeHost
from a2a_mqtt.gateway.expose_config import ExposeConfig, ExposedAgent
from tests.behaviour.gateway.test_expose import http_agent
from tests.behaviour.server.test_bad_input import raw_peer

pytestmark = pytest.mark.asyncio

V1 = (("a2a-version", "1.0"),)


def _send(text: str = "ok", *, method: str = "SendMessage", **message: Any) -> bytes:
    body = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}],
            "taskId": str(uuid.uuid4()), "contextId": str(uuid.uuid4()), **message}
    return json.dumps({"jsonrpc": "2.0", "id": "r1", "method": method,
                       "params": {"message": body}}).encode()


HOSTILE: list[tuple[str, bytes]] = [
    ("random bytes", b"\x00\xff\xfe garbage"),
    ("truncated", _send()[:40]),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("deep params", b'{"jsonrpc":"2.0","id":"r1","method":"SendMessage","params":'
     + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"),
    ("lone-surrogate id", _send().replace(b'"id": "r1"', b'"id": "\\ud800"')),
    ("lone-surrogate text", _send("\ud800 x")),
    ("lone-surrogate metadata key", _send(metadata={"\udc00k": 1})),
    ("NaN metadata", _send(metadata={"n": 0}).replace(b'"n": 0', b'"n": NaN')),
    ("Infinity data part", _send().replace(b'{"text": "ok"}', b'{"data": {"x": Infinity}}')),
    ("wrong types", _send().replace(b'"parts": [{"text": "ok"}]', b'"parts": "ok"')),
    ("unknown method", _send(method="message/explode")),
    ("batch", b"[" + _send() + b"," + _send() + b"]"),
    ("streaming NaN", _send(method="SendStreamingMessage", metadata={"n": 0}).replace(
        b'"n": 0', b'"n": -Infinity')),
    ("streaming surrogate", _send("\udfff", method="SendStreamingMessage")),
    ("huge text", _send("x" * 1_100_000)),  # over the agent's max_payload_bytes (1 MiB)
    ("empty", b""),
]


@pytest.mark.parametrize(("name", "payload"), [
    pytest.param(name, payload, id=name) for name, payload in HOSTILE])
async def test_hostile_mqtt_requests_get_json_rpc_errors_and_expose_keeps_serving(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str, client: A2AMqttClient,
        name: str, payload: bytes) -> None:
    async with http_agent() as (url, _executor, _store), ExposeHost(ExposeConfig(
            agents=(ExposedAgent(url=url, ref=ref),), connection=ConnectionSettings(url=broker.url),
            session_expiry=0)) as host, raw_peer(broker.url, unique_id) as peer:
        await client.discovery.resolve(ref, timeout=5.0)
        await peer.send(request_topic(ref), payload, user_properties=V1)
        reply = await peer.reply()
        error = reply.get("error")
        assert isinstance(error, dict) and isinstance(error.get("code"), int), (name, reply)
        assert error["code"] != -32603, (name, reply)  # the client's fault, not ours
        assert reply["_correlation"] == b"c-1" and reply["_end"] == "true"
        with pytest.raises(asyncio.TimeoutError):  # exactly one terminal answer
            await asyncio.wait_for(peer.replies.get(), 0.5)
        # A valid request right after is forwarded to the HTTP agent and answered.
        await peer.send(request_topic(ref), _send("still here"), user_properties=V1)
        good = await peer.reply()
        assert good["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", good
        assert good["result"]["task"]["artifacts"][-1]["parts"][0]["text"] == "still here"
        assert all(server.card is not None for server in host.servers)
