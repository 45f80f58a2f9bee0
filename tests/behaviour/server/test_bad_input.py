"""Bad input on the request topic gets a JSON-RPC error where it can, and never stops the agent.
Malformed replies give the client a clear error, never a hang."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import TaskState
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.transport import (
    ConnectOptions,
    IncomingMessage,
    Mqtt5Transport,
    PublishProperties,
    Subscription,
)
from a2a_mqtt.transport.base import BrokerURL
from tests.behaviour.conftest import serve, text

pytestmark = pytest.mark.asyncio


def _paho_publish(url: str, topic: str, payload: bytes, props: PublishProperties) -> None:
    """One QoS 1 publish with paho (a dev dependency), blocking: it sends what MQTT
    forbids and our codec refuses to encode (a wildcard Response Topic)."""
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    try:
        paho_props = Properties(PacketTypes.PUBLISH)
        paho_props.ResponseTopic = props.response_topic
        if props.correlation_data is not None:
            paho_props.CorrelationData = props.correlation_data
        if props.user_properties:
            paho_props.UserProperty = list(props.user_properties)
        client.publish(topic, payload, qos=1, properties=paho_props).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


class RawPeer:
    """A bare MQTT peer that sends arbitrary bytes and collects what comes back."""

    def __init__(self, transport: Mqtt5Transport, reply_topic: str, url: str = "") -> None:
        self.transport = transport
        self.reply_topic = reply_topic
        self.url = url
        self.replies: asyncio.Queue[IncomingMessage] = asyncio.Queue()

    async def send(self, topic: str, payload: bytes, *, response: bool = True,
                   correlation: bytes | None = b"c-1",
                   user_properties: tuple[tuple[str, str], ...] = ()) -> None:
        props = PublishProperties(response_topic=self.reply_topic if response else None,
                                  correlation_data=correlation,
                                  user_properties=user_properties)
        if response and set(self.reply_topic) & set("+#"):
            await asyncio.to_thread(_paho_publish, self.url, topic, payload, props)
            return
        await self.transport.publish(topic, payload, qos=1, properties=props)

    async def reply(self) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.replies.get(), 5)
        body: dict[str, Any] = json.loads(msg.payload)
        body["_correlation"] = msg.properties.correlation_data
        body["_end"] = msg.properties.user_property("a2a-stream-end")
        body["_retry_after"] = msg.properties.user_property("retry-after")
        return body


@asynccontextmanager
async def raw_peer(url: str, name: str) -> AsyncIterator[RawPeer]:
    reply_topic = f"$a2a/v1/reply/test/peers/{name}/r"
    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url),
                                             client_id=f"test/peers/{name}"))
    peer = RawPeer(transport, reply_topic, url)
    await transport.subscribe(Subscription(reply_topic, qos=1), peer.replies.put_nowait)
    async with transport:
        yield peer


def rpc(method: str, params: Any, rid: Any = "r1") -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                       "params": params}).encode()


GOOD = {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "ok"}],
                    "taskId": str(uuid.uuid4()), "contextId": str(uuid.uuid4())}}


@pytest.mark.parametrize(("payload", "code", "rid"), [
    (b"\x00\xffnot json", -32700, None),
    (b"[1, 2]", -32600, None),
    (b'{"jsonrpc": "1.0", "id": 7, "method": "GetTask", "params": {}}', -32600, 7),
    (b'{"jsonrpc": "2.0", "id": true, "method": "GetTask"}', -32600, None),
    (rpc("tasks/get", {}), -32601, "r1"),
    (rpc("GetTask", [1, 2]), -32602, "r1"),
    (rpc("GetTask", {"id": {"nested": "object"}}), -32602, "r1"),
    (rpc("SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER",
                                     "parts": [{"text": "no task id"}]}}), -32005, "r1"),
    (rpc("SendMessage", {"message": {"messageId": "m", "role": "ROLE_USER", "taskId": "nope",
                                     "parts": [{"text": "bad task id"}]}}), -32005, "r1"),
    (b"{" + b" " * 5000 + b"}", -32600, None),
])
async def test_bad_requests_get_json_rpc_errors_and_agent_keeps_serving(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str, payload: bytes, code: int,
        rid: Any) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), max_payload_bytes=4096), \
            raw_peer(broker.url, unique_id) as peer:
        await peer.send(request_topic(ref), payload)
        reply = await peer.reply()
        assert reply["error"]["code"] == code, reply
        assert reply["id"] == rid
        assert reply["_correlation"] == b"c-1"
        assert reply["_end"] == "true"
        if code == -32005:
            assert reply["error"]["data"] == {"a2a_error": "transport_protocol_error"}
        # ...and a good request right after is served.
        await peer.send(request_topic(ref), rpc("SendMessage", GOOD),
                        user_properties=(("a2a-version", "1.0"),))
        good = await peer.reply()
        assert good["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_missing_response_topic_is_logged_and_dropped(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str,
        caplog: pytest.LogCaptureFixture, client: A2AMqttClient) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()), \
            raw_peer(broker.url, unique_id) as peer:
        with caplog.at_level(logging.WARNING, logger="a2a_mqtt.server"):
            await peer.send(request_topic(ref), rpc("SendMessage", GOOD), response=False)
            response = await client.transport_for(ref).send_message(text("still here"))
        assert response.task.status.state == TaskState.TASK_STATE_COMPLETED
        assert any("no Response Topic" in r.getMessage() for r in caplog.records)
        assert peer.replies.empty()


async def test_missing_correlation_data_gets_error(broker: MosquittoProcess, ref: AgentRef,
                                                   unique_id: str) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()), \
            raw_peer(broker.url, unique_id) as peer:
        await peer.send(request_topic(ref), rpc("SendMessage", GOOD), correlation=None)
        reply = await peer.reply()
    assert reply["error"]["code"] == -32005
    assert "Correlation Data" in reply["error"]["message"]


@pytest.mark.parametrize("garbage", [b"not json at all", b"[]", b'{"jsonrpc":"2.0"}',
                                     b'{"jsonrpc":"2.0","id":"x","error":"flat string"}'])
async def test_malformed_reply_gives_client_clear_error(
        broker: MosquittoProcess, unique_id: str, client: A2AMqttClient,
        garbage: bytes) -> None:
    """A responder that answers garbage: the client raises promptly instead of hanging."""
    fake = AgentRef("test", "liars", unique_id)
    liar = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(broker.url),
                                        client_id=fake.client_id))

    def answer(msg: IncomingMessage) -> None:
        asyncio.get_running_loop().create_task(liar.publish(
            msg.properties.response_topic or "", garbage, qos=1, properties=PublishProperties(
                correlation_data=msg.properties.correlation_data)))

    await liar.subscribe(Subscription(request_topic(fake), qos=1), answer)
    async with liar:
        with pytest.raises(A2AClientError) as err:
            async with asyncio.timeout(5):
                await client.transport_for(fake).send_message(text("hello?"))
    assert "reply" in str(err.value).lower() or "JSON-RPC" in str(err.value)
