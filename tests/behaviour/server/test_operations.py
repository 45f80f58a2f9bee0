"""Every A2A 1.0 operation over MQTT, through the stock a2a-sdk Client and our transport."""

from __future__ import annotations

import asyncio

import pytest
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import (
    AgentCard,
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
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, GreeterExecutor, echo_card, greeter_card
from tests.behaviour.conftest import serve, text

pytestmark = pytest.mark.asyncio

DONE = TaskState.TASK_STATE_COMPLETED


async def test_send_message_unary_returns_completed_task(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        response = await client.transport_for(ref).send_message(text("hi there"))
    assert response.task.status.state == DONE
    assert response.task.artifacts[0].parts[0].text == "hi there"
    # The requester generated the Task.id and the agent kept it.
    assert response.task.id and response.task.context_id


async def test_stock_client_streams_working_artifact_completed_in_order(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        a2a = await client.connect(ref)
        kinds = []
        async for event in a2a.send_message(text("stream me")):
            kind = event.WhichOneof("payload")
            if kind == "status_update":
                kinds.append(TaskState.Name(event.status_update.status.state))
            elif kind == "artifact_update":
                kinds.append("artifact:" + event.artifact_update.artifact.parts[0].text)
            else:
                kinds.append(kind)
    assert kinds == ["task", "TASK_STATE_WORKING", "artifact:stream me", "TASK_STATE_COMPLETED"]


async def test_get_list_and_subscribe_after_completion(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        t = client.transport_for(ref)
        first = (await t.send_message(text("one"))).task
        second = (await t.send_message(text("two", context_id=first.context_id))).task
        got = await t.get_task(GetTaskRequest(id=first.id))
        assert got.id == first.id and got.status.state == DONE
        listed = await t.list_tasks(ListTasksRequest(context_id=first.context_id))
        assert {task.id for task in listed.tasks} == {first.id, second.id}
        everything = await t.list_tasks(ListTasksRequest())
        assert len(everything.tasks) == 2
        # SubscribeToTask on a terminal task is an error in A2A 1.0, and it says so.
        with pytest.raises(UnsupportedOperationError):
            async for _ in t.subscribe(SubscribeToTaskRequest(id=first.id)):
                pass
        with pytest.raises(TaskNotFoundError):
            await t.get_task(GetTaskRequest(id="3b0f5f8e-9f5e-4c1e-8d43-000000000000"))


async def test_cancel_running_task_and_subscribe_while_running(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        t = client.transport_for(ref)
        stream = t.send_message_streaming(text("slow", metadata={"delay": 30}))
        first = await anext(stream)
        task_id = first.task.id
        assert (await anext(stream)).status_update.status.state == TaskState.TASK_STATE_WORKING
        # A second subscriber sees the live task first.
        sub = t.subscribe(SubscribeToTaskRequest(id=task_id))
        snapshot = await anext(sub)
        assert snapshot.task.id == task_id
        canceled = await t.cancel_task(CancelTaskRequest(id=task_id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        rest = [e async for e in stream]
        await sub.aclose()
        await stream.aclose()
        assert all(e.WhichOneof("payload") != "artifact_update" for e in rest)
        with pytest.raises(TaskNotCancelableError):
            await t.cancel_task(CancelTaskRequest(id=task_id))


async def test_multi_turn_input_required(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    async with serve(broker.url, ref, GreeterExecutor(), greeter_card()):
        t = client.transport_for(ref)
        first = (await t.send_message(text("hello"))).task
        assert first.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert first.status.message.parts[0].text == "What is your name?"
        events = [e async for e in t.send_message_streaming(
            text("Ada", task_id=first.id, context_id=first.context_id))]
        final = events[-1].status_update.status.state
        assert final == DONE
        got = await t.get_task(GetTaskRequest(id=first.id))
        assert got.artifacts[0].parts[0].text == "Hello, Ada!"


async def test_context_mismatch_on_known_task_is_invalid_params(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    from a2a.utils.errors import InvalidParamsError

    async with serve(broker.url, ref, GreeterExecutor(), greeter_card()):
        t = client.transport_for(ref)
        first = (await t.send_message(text("hello"))).task
        with pytest.raises(InvalidParamsError):
            await t.send_message(text("Ada", task_id=first.id,
                                      context_id="00000000-0000-4000-8000-000000000000"))


async def test_push_notification_config_crud(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card(push=True)):
        t = client.transport_for(ref)
        task = (await t.send_message(text("x"))).task
        created = await t.create_task_push_notification_config(TaskPushNotificationConfig(
            task_id=task.id, id="hook-1", url="http://127.0.0.1:9/hook", token="tok"))
        assert created.id == "hook-1" and created.url == "http://127.0.0.1:9/hook"
        got = await t.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task.id, id="hook-1"))
        assert got.token == "tok"
        listed = await t.list_task_push_notification_configs(
            ListTaskPushNotificationConfigsRequest(task_id=task.id))
        assert [c.id for c in listed.configs] == ["hook-1"]
        await t.delete_task_push_notification_config(
            DeleteTaskPushNotificationConfigRequest(task_id=task.id, id="hook-1"))
        listed = await t.list_task_push_notification_configs(
            ListTaskPushNotificationConfigsRequest(task_id=task.id))
        assert list(listed.configs) == []


async def test_push_unsupported_maps_to_push_error_not_request_expired(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    """-32003 is both PushNotificationNotSupported and request_expired; the data shape decides."""
    async with serve(broker.url, ref, EchoExecutor(), echo_card(push=False)):
        t = client.transport_for(ref)
        task = (await t.send_message(text("x"))).task
        with pytest.raises(PushNotificationNotSupportedError):
            await t.create_task_push_notification_config(TaskPushNotificationConfig(
                task_id=task.id, url="http://127.0.0.1:9/hook"))


async def test_extended_card(broker: MosquittoProcess, client: A2AMqttClient,
                             ref: AgentRef) -> None:
    extended = echo_card()
    extended.description = "Echo, with the details only authenticated callers see."
    async with serve(broker.url, ref, EchoExecutor(), echo_card(),
                     extended_card=extended) as server:
        assert server.card.capabilities.extended_agent_card
        t = client.transport_for(ref, card=server.card)
        card = await t.get_extended_agent_card(GetExtendedAgentCardRequest())
    assert isinstance(card, AgentCard)
    assert card.description.startswith("Echo, with the details")


async def test_extended_card_not_configured(broker: MosquittoProcess, client: A2AMqttClient,
                                            ref: AgentRef) -> None:
    from a2a.utils.errors import ExtendedAgentCardNotConfiguredError

    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        t = client.transport_for(ref)  # no card: the transport asks the agent
        with pytest.raises((ExtendedAgentCardNotConfiguredError, UnsupportedOperationError)):
            await t.get_extended_agent_card(GetExtendedAgentCardRequest())


async def test_streaming_refused_when_card_says_no_streaming(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    card = echo_card()
    card.capabilities.streaming = False
    async with serve(broker.url, ref, EchoExecutor(), card):
        t = client.transport_for(ref)
        with pytest.raises(UnsupportedOperationError):
            async for _ in t.send_message_streaming(text("x")):
                pass
        # Unary still works.
        assert (await t.send_message(text("y"))).task.status.state == DONE


async def test_version_not_supported(broker: MosquittoProcess, client: A2AMqttClient,
                                     ref: AgentRef) -> None:
    from a2a.client.client import ClientCallContext
    from a2a.utils.errors import VersionNotSupportedError

    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        t = client.transport_for(ref)
        with pytest.raises(VersionNotSupportedError):
            await t.send_message(text("x"), context=ClientCallContext(
                service_parameters={"A2A-Version": "0.3"}))


async def test_retried_first_request_creates_one_task(
        broker: MosquittoProcess, client: A2AMqttClient, ref: AgentRef) -> None:
    """Same Task.id + messageId twice (a retry): one execution, the same task back."""
    executor = EchoExecutor()
    async with serve(broker.url, ref, executor, echo_card()):
        t = client.transport_for(ref)
        request = text("once", task_id="6f1d2c3b-aaaa-4bbb-8ccc-123456789abc",
                       context_id="6f1d2c3b-aaaa-4bbb-8ccc-cccccccccccc")
        a, b = await asyncio.gather(t.send_message(request), t.send_message(request))
        again = await t.send_message(request)
    assert executor.executions == 1
    assert a.task.id == b.task.id == again.task.id == "6f1d2c3b-aaaa-4bbb-8ccc-123456789abc"
    assert again.task.status.state == DONE


async def test_unknown_agent_gives_clear_error_not_hang(
        broker: MosquittoProcess, client: A2AMqttClient) -> None:
    t = client.transport_for("test/unit/nobody-home")
    with pytest.raises(A2AClientError, match="nobody-home"):
        async with asyncio.timeout(20):
            await t.send_message(text("anyone?"))
