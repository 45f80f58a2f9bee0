"""The Task.id a request names (envelope.task_named): what partition dispatch routes by."""

from __future__ import annotations

import uuid

import pytest
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message as ProtoMessage
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.binding.envelope import METHODS, encode_request, task_named

TID = str(uuid.uuid4())


def _send() -> SendMessageRequest:
    return SendMessageRequest(message=Message(message_id="m1", role=Role.ROLE_USER,
                                              task_id=TID, parts=[Part(text="hi")]))


NAMING: dict[str, ProtoMessage] = {
    "SendMessage": _send(),
    "SendStreamingMessage": _send(),
    "GetTask": GetTaskRequest(id=TID),
    "CancelTask": CancelTaskRequest(id=TID),
    "SubscribeToTask": SubscribeToTaskRequest(id=TID),
    "CreateTaskPushNotificationConfig": TaskPushNotificationConfig(task_id=TID,
                                                                   url="https://x/y"),
    "GetTaskPushNotificationConfig": GetTaskPushNotificationConfigRequest(task_id=TID, id="c"),
    "ListTaskPushNotificationConfigs": ListTaskPushNotificationConfigsRequest(task_id=TID),
    "DeleteTaskPushNotificationConfig": DeleteTaskPushNotificationConfigRequest(task_id=TID,
                                                                              id="c"),
}


def test_every_method_that_names_a_task_is_known() -> None:
    assert set(NAMING) == set(METHODS) - {"ListTasks", "GetExtendedAgentCard"}


@pytest.mark.parametrize("method", sorted(NAMING))
def test_the_task_a_request_names_is_found(method: str) -> None:
    params = MessageToDict(NAMING[method])
    assert task_named(encode_request(method, params, 7)) == TID


@pytest.mark.parametrize("method", sorted(NAMING))
def test_the_proto_field_names_are_read_too(method: str) -> None:
    params = MessageToDict(NAMING[method], preserving_proto_field_name=True)
    assert task_named(encode_request(method, params, "r")) == TID


@pytest.mark.parametrize("payload", [
    encode_request("ListTasks", {"pageSize": 5}, 1),
    encode_request("GetExtendedAgentCard", {}, 1),
    encode_request("SendMessage", {"message": {"messageId": "m", "parts": []}}, 1),
    encode_request("SendMessage", {"message": "no"}, 1),
    encode_request("GetTask", {"id": 5}, 1),
    encode_request("GetTask", {"id": ""}, 1),
    encode_request("Nope", {"id": TID}, 1),
    b'{"jsonrpc":"2.0","id":1,"method":"GetTask"}',
    b'{"jsonrpc":"2.0","id":1,"method":["GetTask"],"params":{"id":"x"}}',
    b"[1, 2]", b"not json", b"\xff\xfe\x00", b"", b"[" * 100_000,
])
def test_a_request_naming_no_task_or_no_request_gives_none(payload: bytes) -> None:
    assert task_named(payload) is None


@given(st.binary(max_size=256))
def test_any_payload_is_peeked_without_raising(payload: bytes) -> None:
    assert task_named(payload) is None or isinstance(task_named(payload), str)


@given(st.sampled_from(sorted(NAMING)), st.text(min_size=1, max_size=64))
def test_whatever_the_id_the_peek_returns_it(method: str, task_id: str) -> None:
    params = MessageToDict(NAMING[method])
    holder = params.get("message", params)
    holder["taskId" if "taskId" in holder else "id"] = task_id
    assert task_named(encode_request(method, params, 1)) == task_id
