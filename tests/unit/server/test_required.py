"""The lean handler's required-field check against a2a-sdk's, on generated requests.

``may_be_invalid`` must say "invalid" exactly when a2a-sdk's
``validate_proto_required_fields`` raises (else the lean path would either let
through a request a2a-sdk refuses, or refuse one it takes), and ``validated``
must raise a2a-sdk's own error. Requests are filled field by field from their
descriptors: each field absent, at its default or set, sub-messages to a few
levels, lists of zero to two items, Struct metadata.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)
from a2a.utils.errors import InvalidParamsError
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.server.required import may_be_invalid, validated

_TYPES = [SendMessageRequest, CancelTaskRequest, GetTaskRequest, SubscribeToTaskRequest,
          ListTasksRequest, TaskPushNotificationConfig]
F = FieldDescriptor


def _scalar(data: st.DataObject, field: FieldDescriptor) -> Any:
    t = field.type
    if t == F.TYPE_STRING:
        return data.draw(st.sampled_from(["", "x", "task-1"]))
    if t == F.TYPE_BYTES:
        return data.draw(st.sampled_from([b"", b"\x01"]))
    if t == F.TYPE_BOOL:
        return data.draw(st.booleans())
    if t == F.TYPE_ENUM:
        return data.draw(st.sampled_from([v.number for v in field.enum_type.values]))
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return data.draw(st.sampled_from([0.0, 1.5]))
    return data.draw(st.sampled_from([0, 3]))


def _fill(data: st.DataObject, message: ProtoMessage, depth: int) -> None:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    if descriptor.full_name == "google.protobuf.Struct":
        for key in data.draw(st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True)):
            message[key] = data.draw(st.sampled_from([1.0, "v", None, {"k": [1, "x"]}]))  # type: ignore[index]
        return
    if descriptor.full_name.startswith("google.protobuf."):
        return  # Timestamp, Value...: no required fields anywhere below
    for field in descriptor.fields:
        if not data.draw(st.booleans()):
            continue  # absent
        is_message = field.type == F.TYPE_MESSAGE
        if field.is_repeated:
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                target = getattr(message, field.name)
                for key in data.draw(st.lists(st.sampled_from(["k1", "k2"]), max_size=2,
                                              unique=True)):
                    value_field = entry.fields_by_name["value"]
                    if value_field.type == F.TYPE_MESSAGE:
                        if depth > 0:
                            _fill(data, target[key], depth - 1)
                    else:
                        target[key] = _scalar(data, value_field)
                continue
            count = data.draw(st.integers(0, 2))
            items = getattr(message, field.name)
            for _ in range(count):
                if is_message:
                    if depth > 0:
                        _fill(data, items.add(), depth - 1)
                else:
                    items.append(_scalar(data, field))
        elif is_message:
            if depth > 0:
                sub = getattr(message, field.name)
                sub.SetInParent()
                _fill(data, sub, depth - 1)
        else:
            setattr(message, field.name, _scalar(data, field))


def _sdk_raises(message: ProtoMessage) -> bool:
    try:
        validate_proto_required_fields(message)
    except InvalidParamsError:
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(data=st.data(), kind=st.sampled_from(_TYPES))
def test_same_verdict_as_a2a_sdk(data: st.DataObject, kind: type[ProtoMessage]) -> None:
    message = kind()
    _fill(data, message, depth=4)
    assert may_be_invalid(message) == _sdk_raises(message), message


def test_the_common_request_is_valid_and_an_empty_one_is_not() -> None:
    ok = SendMessageRequest()
    ok.message.message_id = "m"
    ok.message.role = 1  # ROLE_USER
    ok.message.parts.add().text = "hi"
    ok.message.metadata["k"] = {"deep": [1, 2]}
    assert not may_be_invalid(ok) and not _sdk_raises(ok)
    assert may_be_invalid(SendMessageRequest()) and _sdk_raises(SendMessageRequest())


class _Handler:
    @validated
    async def call(self, params: Any, context: Any) -> str:
        return "called"

    @validated
    async def stream(self, params: Any, context: Any) -> Any:
        yield "item"


def test_validated_raises_a2a_sdks_error_and_passes_valid_params() -> None:
    bad = SendMessageRequest()
    bad.message.message_id = "m"  # no role, no parts
    with pytest.raises(InvalidParamsError) as ours:
        asyncio.run(_Handler().call(bad, None))
    with pytest.raises(InvalidParamsError) as theirs:
        validate_proto_required_fields(bad)
    assert ours.value.message == theirs.value.message
    assert ours.value.data == theirs.value.data

    async def first(params: Any) -> list[Any]:
        return [item async for item in _Handler().stream(params, None)]

    with pytest.raises(InvalidParamsError):
        asyncio.run(first(bad))
    assert asyncio.run(_Handler().call(CancelTaskRequest(id="t"), None)) == "called"
    assert asyncio.run(first(CancelTaskRequest(id="t"))) == ["item"]
