"""The JSON form of SendMessage (the gateway's lean path): ids set, result shapes told apart."""

from __future__ import annotations

from typing import Any

import pytest
from a2a.types.a2a_pb2 import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.client.transport import _is_send_result, _is_stream_item, _json_with_ids

MESSAGE = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}


@pytest.mark.parametrize("ids", [
    {}, {"taskId": ""}, {"task_id": None, "context_id": ""},
    {"taskId": "old", "task_id": "old", "contextId": "c0", "context_id": "c0"},
])
def test_the_ids_are_set_once_under_their_canonical_names(ids: dict[str, Any]) -> None:
    params = {"message": {**MESSAGE, **ids}, "configuration": {"historyLength": 1}}
    out = _json_with_ids(params, Message(task_id="t-1", context_id="c-1"))
    assert out["message"] == {**MESSAGE, "taskId": "t-1", "contextId": "c-1"}
    assert out["configuration"] == {"historyLength": 1}
    assert params["message"] == {**MESSAGE, **ids}  # the caller's JSON is left alone


def test_an_empty_context_id_is_left_to_the_agent() -> None:
    out = _json_with_ids({"message": dict(MESSAGE)}, Message(task_id="t-1"))
    assert out["message"]["taskId"] == "t-1" and "contextId" not in out["message"]


@pytest.mark.parametrize(("result", "relayed"), [
    ({"task": {"id": "t"}}, True),
    ({"message": {"messageId": "m"}}, True),
    ({"task": {}, "message": {}}, False),  # two payloads: decoded, and refused there
    ({"task": "t"}, False),
    ({"task": None}, False),
    ({"statusUpdate": {}}, False),          # a v0.1 stream event: folded
    ({}, False),
    (["task"], False),
    ("task", False),
])
def test_only_a_send_message_response_shape_is_relayed(result: Any, relayed: bool) -> None:
    assert _is_send_result(result) is relayed


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["task", "message", "x"]), inner,
                                      max_size=3), max_leaves=10))
def test_a_relayed_result_is_always_one_object_payload(result: Any) -> None:
    if _is_send_result(result):
        (key, value), = result.items()
        assert key in ("task", "message") and isinstance(value, dict)


@pytest.mark.parametrize(("item", "relayed"), [
    ({"task": {"id": "t"}}, True),
    ({"message": {}}, True),
    ({"statusUpdate": {"taskId": "t"}}, True),
    ({"artifactUpdate": {"taskId": "t"}}, True),
    ({"status_update": {"taskId": "t"}}, False),  # not canonical: decoded and re-encoded
    ({"statusUpdate": {}, "task": {}}, False),
    ({"statusUpdate": []}, False),
    ({}, False),
    (None, False),
])
def test_only_a_stream_response_shape_is_relayed(item: Any, relayed: bool) -> None:
    assert _is_stream_item(item) is relayed
