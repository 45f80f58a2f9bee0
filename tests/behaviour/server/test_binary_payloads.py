"""Binary protobuf payloads on a real Mosquitto (docs/binding.md §3.4): the first call
asks in JSON, later ones go binary, a JSON-only peer is answered in JSON, a refused
binary request is sent again as JSON, and both encodings give the same replies,
stored tasks and errors. A third party on the broker sees the wire."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from a2a.types.a2a_pb2 import (
    GetTaskRequest,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError, UnsupportedOperationError
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.binding import protobin
from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.transport import ConnectOptions, IncomingMessage, Mqtt5Transport, Subscription
from a2a_mqtt.transport.base import BrokerURL, PublishProperties
from tests.behaviour.conftest import requester_config, serve, text
from tests.behaviour.security.conftest import Observer

pytestmark = pytest.mark.asyncio
JSON, BINARY = "application/json", "application/protobuf"
REQUESTS, REPLIES = "$a2a/v1/request/", "$a2a/v1/reply/"


@asynccontextmanager
async def watching(url: str, name: str) -> AsyncIterator[Observer]:
    seen = Observer()
    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url), client_id=f"spy-{name}"))
    for topic_filter in ("$a2a/v1/request/#", "$a2a/v1/reply/#"):
        await transport.subscribe(Subscription(topic_filter, qos=1), seen.on_message)
    async with transport:
        yield seen


@asynccontextmanager
async def mqtt_client(url: str, **config: Any) -> AsyncIterator[A2AMqttClient]:
    async with A2AMqttClient(requester_config(url, **config)) as client:
        yield client


def shape(task: Task) -> dict[str, Any]:
    """A task without what differs between two runs of the same request."""
    out = MessageToDict(task)
    for key in ("id", "contextId"):
        out.pop(key, None)
    out["status"].pop("timestamp", None)
    for message in out.get("history", []):
        for key in ("messageId", "taskId", "contextId"):
            message.pop(key, None)
    for artifact in out.get("artifacts", []):
        artifact.pop("artifactId", None)
    return out


def kind(msg: IncomingMessage) -> str | None:
    return msg.properties.content_type


async def test_first_call_asks_in_json_later_calls_go_binary_with_the_same_results(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str) -> None:
    async with watching(broker.url, unique_id) as spy, \
            serve(broker.url, ref, EchoExecutor(), echo_card()), \
            mqtt_client(broker.url) as client, \
            mqtt_client(broker.url, payload_encoding="json") as json_client:
        ours = client.transport_for(ref)
        first = (await ours.send_message(text("one"))).task
        assert client.requester.reads_binary(ref)
        second = (await ours.send_message(text("one"))).task
        plain = (await json_client.transport_for(ref).send_message(text("one"))).task
        requests = (await spy.on(REQUESTS, at_least=3))[:3]
        replies = await spy.replies_to(requests)
        stored = await ours.get_task(GetTaskRequest(id=second.id))
        stored_json = await json_client.requester.call(ref, "GetTask", {"id": second.id})
    assert not json_client.requester.reads_binary(ref)
    # The first request is JSON and asks for binary; the agent answers in binary and says
    # it reads binary; the next request is binary, its method in a2a-method.
    one, two, three = requests[:3]
    assert kind(one) == JSON and one.properties.user_property("a2a-accept") == BINARY
    assert json.loads(one.payload)["method"] == "SendMessage"
    assert kind(two) == BINARY and two.properties.user_property("a2a-method") == "SendMessage"
    assert two.properties.user_property("a2a-version") == "1.0"
    assert SendMessageRequest.FromString(two.payload).message.task_id == second.id
    assert kind(three) == JSON and three.properties.user_property("a2a-accept") is None
    by_corr = {r.properties.correlation_data: r for r in replies}
    for request, expected in ((one, BINARY), (two, BINARY), (three, JSON)):
        reply = by_corr[request.properties.correlation_data]
        assert kind(reply) == expected
        assert reply.properties.user_property("a2a-stream-end") == "true"
        assert (reply.properties.user_property("a2a-accept") == BINARY) is (expected == BINARY)
    # The same request gives the same task in both encodings, and the same stored task.
    assert shape(first) == shape(second) == shape(plain)
    assert second.status.state == TaskState.TASK_STATE_COMPLETED
    assert MessageToDict(stored) == stored_json


async def test_streams_and_errors_in_binary(broker: MosquittoProcess, ref: AgentRef,
                                           unique_id: str) -> None:
    async with watching(broker.url, unique_id) as spy, \
            serve(broker.url, ref, EchoExecutor(), echo_card()), \
            mqtt_client(broker.url) as client:
        ours = client.transport_for(ref)
        kinds: list[list[str | None]] = []
        for _ in range(2):
            items = [item async for item in ours.send_message_streaming(text("stream me"))]
            assert all(isinstance(item, StreamResponse) for item in items)
            kinds.append([item.WhichOneof("payload") for item in items])
        done = items[0].task.id
        with pytest.raises(TaskNotFoundError):
            await ours.get_task(GetTaskRequest(id=str(uuid.uuid4())))
        with pytest.raises(UnsupportedOperationError):
            async for _ in ours.subscribe(SubscribeToTaskRequest(id=done)):
                pass
        requests = (await spy.on(REQUESTS, at_least=4))[:4]
        replies = await spy.replies_to(requests)
    assert kinds[0] == kinds[1] == ["task", "status_update", "artifact_update", "status_update"]
    assert [kind(r) for r in requests[:4]] == [JSON, BINARY, BINARY, BINARY]
    stream_two = [r for r in replies
                  if r.properties.correlation_data == requests[1].properties.correlation_data]
    assert [kind(r) for r in stream_two] == [BINARY] * 4
    assert [r.properties.user_property("a2a-stream-end") for r in stream_two] == [
        "false", "false", "false", "true"]
    # Errors stay JSON-RPC error objects in JSON, with a null id (a binary request has none).
    for request in requests[2:4]:
        error = next(r for r in replies
                     if r.properties.correlation_data == request.properties.correlation_data)
        assert kind(error) == JSON
        body = json.loads(error.payload)
        assert body["id"] is None and body["error"]["code"] in (-32001, -32004)


async def test_a_json_only_agent_gets_json_and_a_refused_binary_request_goes_again_as_json(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str) -> None:
    async with watching(broker.url, unique_id) as spy, mqtt_client(broker.url) as client:
        ours = client.transport_for(ref)
        async with serve(broker.url, ref, EchoExecutor(), echo_card()):
            await ours.send_message(text("learn"))
        assert client.requester.reads_binary(ref)
        # The same reference, now an agent that reads JSON only (as one that predates it).
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), payload_encoding="json"):
            task = (await ours.send_message(text("after"))).task
            again = (await ours.send_message(text("and again"))).task
        requests = (await spy.on(REQUESTS, at_least=4))[:4]
        replies = await spy.replies_to(requests)
    assert task.status.state == again.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.artifacts[0].parts[0].text == "after"
    assert not client.requester.reads_binary(ref)
    assert [kind(r) for r in requests[:4]] == [JSON, BINARY, JSON, JSON]
    refusal = next(r for r in replies
                   if r.properties.correlation_data == requests[1].properties.correlation_data)
    assert kind(refusal) == JSON and json.loads(refusal.payload)["error"]["code"] == -32700
    assert refusal.properties.user_property("a2a-accept") is None
    # The retry carries the same Task.id: one task, not two.
    assert json.loads(requests[2].payload)["params"]["message"]["taskId"] == task.id
    for request in requests[2:4]:
        assert request.properties.user_property("a2a-accept") == BINARY
        reply = next(r for r in replies
                     if r.properties.correlation_data == request.properties.correlation_data)
        assert kind(reply) == JSON and reply.properties.user_property("a2a-accept") is None


async def test_a_reference_that_refused_binary_is_believed_again_after_binary_retry_after(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str) -> None:
    """The JSON-only memory expires: once the pool is upgraded, binary comes back."""
    async with watching(broker.url, unique_id) as spy, \
            mqtt_client(broker.url, binary_retry_after=0.0) as client:
        ours = client.transport_for(ref)
        async with serve(broker.url, ref, EchoExecutor(), echo_card()):
            await ours.send_message(text("learn"))
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), payload_encoding="json"):
            await ours.send_message(text("refused, then JSON"))
        assert not client.requester.reads_binary(ref)
        async with serve(broker.url, ref, EchoExecutor(), echo_card()):   # upgraded
            await ours.send_message(text("JSON, learns again"))
            assert client.requester.reads_binary(ref)
            task = (await ours.send_message(text("binary again"))).task
        requests = await spy.on(REQUESTS, at_least=5)
    assert task.artifacts[0].parts[0].text == "binary again"
    assert [kind(r) for r in requests[:5]] == [JSON, BINARY, JSON, JSON, BINARY]


class RawBinaryPeer:
    """Publishes arbitrary binary requests and reads the JSON error replies."""

    def __init__(self, transport: Mqtt5Transport, reply_topic: str) -> None:
        self.transport = transport
        self.reply_topic = reply_topic
        self.replies: list[IncomingMessage] = []
        self.observer = Observer()

    async def ask(self, ref: AgentRef, method: str | None, payload: bytes) -> IncomingMessage:
        corr = uuid.uuid4().hex.encode()
        ups = [("a2a-version", "1.0"), ("a2a-accept", BINARY)]
        if method is not None:
            ups.append(("a2a-method", method))
        await self.transport.publish(request_topic(ref), payload, qos=1, properties=(
            PublishProperties(response_topic=self.reply_topic, correlation_data=corr,
                              content_type=BINARY, user_properties=tuple(ups))))
        found = await self.observer.on(self.reply_topic, at_least=len(self.replies) + 1)
        reply = next(m for m in found if m.properties.correlation_data == corr)
        self.replies.append(reply)
        return reply


@asynccontextmanager
async def raw_binary_peer(url: str, name: str) -> AsyncIterator[RawBinaryPeer]:
    reply_topic = f"$a2a/v1/reply/test/peers/{name}/r"
    transport = Mqtt5Transport(ConnectOptions(url=BrokerURL.parse(url),
                                             client_id=f"test/peers/{name}"))
    peer = RawBinaryPeer(transport, reply_topic)
    await transport.subscribe(Subscription(reply_topic, qos=1), peer.observer.on_message)
    async with transport:
        yield peer


GOOD = text("ok", task_id=str(uuid.uuid4()), context_id=str(uuid.uuid4()))
NO_TASK_ID = text("no task id")
NUL = text("nul", task_id=str(uuid.uuid4()))
NUL.message.parts[0].text = "a\x00b"


@pytest.mark.parametrize(("method", "payload", "code"), [
    (None, protobin.encode(GOOD), -32600),
    ("tasks/send", protobin.encode(GOOD), -32601),
    ("SendMessage", protobin.encode(GOOD)[:-5], -32700),  # truncated
    ("SendMessage", b"\xff" * 64, -32700),  # not protobuf
    ("GetTask", b"\x0a\x03a\xffb", -32700),  # invalid UTF-8 in the id
    ("GetTask", b"", -32602),  # the required id is missing (the handler's check)
    # Another message's bytes: its field 2 (the message) reads as GetTask's id.
    ("GetTask", protobin.encode(GOOD), -32001),
    ("SendMessage", protobin.encode(NO_TASK_ID), -32005),
    ("SendMessage", protobin.encode(NUL), -32602),
    ("SendMessage", b"\x12" + b"\xff\xff\x03" + b"x" * 100, -32700),  # length past the end
    ("SendMessage", protobin.encode(GOOD) + b"x" * 5000, -32600),  # over the size limit
])
async def test_hostile_binary_requests_get_json_rpc_errors_and_the_agent_serves_on(
        broker: MosquittoProcess, ref: AgentRef, unique_id: str, method: str | None,
        payload: bytes, code: int) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(), max_payload_bytes=4096), \
            raw_binary_peer(broker.url, unique_id) as peer, \
            mqtt_client(broker.url) as client:
        reply = await peer.ask(ref, method, payload)
        good = await peer.ask(ref, "SendMessage", protobin.encode(text(
            "still here", task_id=str(uuid.uuid4()))))
        task = (await client.transport_for(ref).send_message(text("and JSON"))).task
    assert kind(reply) == JSON
    body = json.loads(reply.payload)
    assert body["id"] is None and body["error"]["code"] == code, body
    assert reply.properties.user_property("a2a-stream-end") == "true"
    assert reply.properties.user_property("a2a-accept") == BINARY
    assert kind(good) == BINARY
    answer = protobin.decode_result("SendMessage", good.payload)
    assert answer.task.artifacts[0].parts[0].text == "still here"  # type: ignore[attr-defined]
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
