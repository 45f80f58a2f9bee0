"""Every A2A 1.0 operation through the gateway with a2a-sdk's own HTTP client.

Each test runs twice, once over JSON-RPC and once over HTTP+JSON, against the
showcase agent served over MQTT on the test's Mosquitto.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from a2a.client.card_resolver import A2ACardResolver
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import (
    ContentTypeNotSupportedError,
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from a2a_mqtt.binding.card import BINDING_URI
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.registry import RegistryClient
from a2a_mqtt.server import AgentServer
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import (
    gateway_card,
    message,
    open_gateway,
    stock_client,
    unary,
)
from tests.behaviour.registry.conftest import start_registry

pytestmark = pytest.mark.asyncio

DONE = TaskState.TASK_STATE_COMPLETED
UNKNOWN_TASK = "3b0f5f8e-9f5e-4c1e-8d43-000000000000"


async def test_card_lists_gateway_endpoints_first_and_keeps_mqtt(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef) -> None:
    card = await gateway_card(http, gateway, ref)
    got = [(i.protocol_binding, i.url) for i in card.supported_interfaces]
    assert got[:2] == [("JSONRPC", f"{gateway.url}/{ref}"),
                       ("HTTP+JSON", f"{gateway.url}/{ref}/rest")]
    assert got[2][0] == BINDING_URI
    assert card.name == "Showcase" and card.capabilities.push_notifications
    raw = await http.get(f"{gateway.url}/{ref}/.well-known/agent-card.json")
    assert raw.headers["etag"] and "max-age" in raw.headers["cache-control"]
    assert raw.headers["last-modified"].endswith("GMT")
    again = await http.get(f"{gateway.url}/{ref}/.well-known/agent-card.json",
                           headers={"If-None-Match": raw.headers["etag"]})
    assert again.status_code == 304


async def test_unary_send_returns_artifacts_of_every_part_kind(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding,
                          streaming=False)
    task = await unary(client, message("parts"))
    assert task.status.state == DONE
    kinds = {a.name: a.parts[0].WhichOneof("content") for a in task.artifacts}
    assert kinds == {"text": "text", "data": "data", "url": "url", "file": "raw"}
    file_part = next(a for a in task.artifacts if a.name == "file").parts[0]
    assert file_part.raw == b"tck" and file_part.filename == "output.txt"


async def test_stream_arrives_in_order_and_ends_at_completion(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding)
    seen = []
    async for event in client.send_message(message("chunks 3")):
        kind = event.WhichOneof("payload")
        if kind == "status_update":
            seen.append(TaskState.Name(event.status_update.status.state))
        elif kind == "artifact_update":
            update = event.artifact_update
            seen.append(f"{update.artifact.parts[0].text}|{update.append}|{update.last_chunk}")
        else:
            seen.append(kind)
    assert seen == ["task", "TASK_STATE_WORKING", "chunk-1 |False|False", "chunk-2 |True|False",
                    "chunk-3 |True|True", "TASK_STATE_COMPLETED"]


async def test_get_list_cancel_subscribe(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    card = await gateway_card(http, gateway, ref)
    client = stock_client(http, card, binding)
    done = await unary(stock_client(http, card, binding, streaming=False), message("hello"))
    got = await client.get_task(GetTaskRequest(id=done.id, history_length=0))
    assert got.status.state == DONE and len(got.history) == 0
    listed = await client.list_tasks(ListTasksRequest(context_id=done.context_id))
    assert [t.id for t in listed.tasks] == [done.id]
    assert listed.next_page_token == ""
    assert not listed.tasks[0].artifacts  # includeArtifacts defaults to false
    with pytest.raises(TaskNotFoundError):
        await client.get_task(GetTaskRequest(id=UNKNOWN_TASK))
    with pytest.raises(UnsupportedOperationError):
        async for _ in client.subscribe(SubscribeToTaskRequest(id=done.id)):
            pass

    stream = client.send_message(message("slow 30"))
    slow = (await anext(stream)).task
    subscription = client.subscribe(SubscribeToTaskRequest(id=slow.id))
    first = await anext(subscription)
    assert first.task.id == slow.id  # SubscribeToTask starts with the current Task
    canceled = await client.cancel_task(CancelTaskRequest(id=slow.id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    await subscription.aclose()
    await stream.aclose()
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=slow.id))


async def test_multi_turn_and_http_task_id_semantics(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding,
                          streaming=False)
    first = await unary(client, message("ask"))
    assert first.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    with pytest.raises(InvalidParamsError):
        await unary(client, message(
            "Ada", task_id=first.id, context_id="00000000-0000-4000-8000-000000000000"))
    second = await unary(client, message("Ada", task_id=first.id))
    assert second.id == first.id and second.status.state == DONE
    assert second.context_id == first.context_id  # inferred from the task
    assert second.artifacts[-1].parts[0].text == "Hello, Ada!"
    # HTTP semantics, not the MQTT binding's: no new turn on a finished task...
    with pytest.raises(UnsupportedOperationError):
        await unary(client, message("again", task_id=first.id))
    # ...and a client cannot create a task under its own id.
    with pytest.raises(TaskNotFoundError):
        await unary(client, message("x", task_id="tck-no-such-task"))


async def test_message_response_and_media_type_check(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding)
    events = [e async for e in client.send_message(message(
        "hi", message_id="tck-message-response-1"))]
    assert [e.WhichOneof("payload") for e in events] == ["message"]
    assert events[0].message.parts[0].text == "Direct message response"
    with pytest.raises(ContentTypeNotSupportedError):
        _ = [e async for e in client.send_message(message(
            "x", media_type="application/x-unsupported-tck-type"))]
    raw = await http.post(f"{gateway.url}/{ref}/rest/message:send", headers={
        "A2A-Version": "1.0"}, json={"message": {"messageId": "m", "role": "ROLE_USER", "parts": [
            {"raw": "dGNr", "mediaType": "application/x-unsupported-tck-type"}]}})
    assert raw.status_code == 415  # A2A 1.0.0 §5.4 (and the TCK); a2a-sdk alone says 400
    assert raw.json()["error"]["details"][0]["reason"] == "CONTENT_TYPE_NOT_SUPPORTED"


async def test_push_config_crud_and_extended_card(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding,
                          streaming=False)
    task = await unary(client, message("ask"))
    created = await client.create_task_push_notification_config(TaskPushNotificationConfig(
        task_id=task.id, id="hook-1", url="http://127.0.0.1:9/hook", token="tok"))
    assert created.id == "hook-1"
    got = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=task.id, id="hook-1"))
    assert got.token == "tok" and got.url == "http://127.0.0.1:9/hook"
    listed = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=task.id))
    assert [c.id for c in listed.configs] == ["hook-1"]
    await client.delete_task_push_notification_config(
        DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="hook-1"))
    await client.delete_task_push_notification_config(  # idempotent
        DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="hook-1"))
    with pytest.raises(TaskNotFoundError):
        await client.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task.id, id="hook-1"))

    extended = await client.get_extended_agent_card(GetExtendedAgentCardRequest())
    assert "diagnostics" in [s.id for s in extended.skills]
    assert extended.supported_interfaces[0].url == f"{gateway.url}/{ref}"


async def test_subscription_to_an_interrupted_task_lasts_until_it_finishes(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    card = await gateway_card(http, gateway, ref)
    client = stock_client(http, card, binding)
    task = await unary(stock_client(http, card, binding, streaming=False), message("ask"))
    subscription = client.subscribe(SubscribeToTaskRequest(id=task.id))
    assert (await anext(subscription)).task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    await unary(stock_client(http, card, binding, streaming=False),
                message("Ada", task_id=task.id))
    rest = [e async for e in subscription]
    assert rest and rest[-1].status_update.status.state == DONE


async def test_pool_is_served_at_its_path(
        broker: MosquittoProcess, http: httpx.AsyncClient, gateway: GatewayServer,
        unique_id: str, tmp_path: Path, binding: str) -> None:
    store = f"sqlite:///{tmp_path / 'pool.db'}"
    pool = AgentRef("acme", "lab", unique_id, pool=True)
    members = [AgentRef("acme", "lab", f"{unique_id}-m{i}") for i in range(2)]
    async with serve(broker.url, members[0], ShowcaseExecutor(), showcase_card(),
                     pool=unique_id, task_store_url=store, shutdown_grace=1.0), serve(
            broker.url, members[1], ShowcaseExecutor(), showcase_card(),
            pool=unique_id, task_store_url=store, shutdown_grace=1.0):
        card = await gateway_card(http, gateway, pool)
        assert card.supported_interfaces[0].url == f"{gateway.url}/acme/lab/pool/{unique_id}"
        client = stock_client(http, card, binding, streaming=False)
        first = await unary(client, message("ask"))
        done = await unary(client, message("Ada", task_id=first.id))
    assert done.status.state == DONE and done.artifacts[-1].parts[0].text == "Hello, Ada!"


async def test_agents_can_come_from_a_registry(
        broker: MosquittoProcess, http: httpx.AsyncClient, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    async with start_registry(broker.url) as registry:
        async with RegistryClient(registry.url) as reader:
            await reader.resolve(ref, timeout=5.0)  # the registry has indexed the card
        async with open_gateway(broker.url, registry_url=registry.url) as gw:
            assert not gw.gateway.mqtt.discovery.entries()  # no broker-wide subscription
            card = await A2ACardResolver(http, f"{gw.url}/{ref}").get_agent_card()
            client = stock_client(http, card, binding, streaming=False)
            task = await unary(client, message("hello"))
            assert task.status.state == DONE
            index = (await http.get(f"{gw.url}/?format=json")).json()["agents"]
            assert [a["agent"] for a in index] == [str(ref)]
