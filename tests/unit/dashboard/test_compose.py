"""compose_send: what a person typed -> SendStreamingMessage params; bad input -> ComposeError."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.dashboard.compose import ComposeError, compose_send, parse_json_body

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(
                         st.text(max_size=8), c, max_size=3), max_leaves=6)


def test_text_data_and_file_become_parts_with_fresh_ids() -> None:
    params = compose_send({"text": "hi", "data": {"a": 1}, "files": [
        {"name": "a.png", "mediaType": "image/png", "base64": base64.b64encode(b"PNG").decode()}],
        "metadata": {"delay": 3}})
    message = params["message"]
    assert message["role"] == "ROLE_USER"
    assert message["parts"] == [
        {"text": "hi"}, {"data": {"a": 1}, "mediaType": "application/json"},
        {"raw": "UE5H", "filename": "a.png", "mediaType": "image/png"}]
    assert message["taskId"] and message["contextId"]
    assert params["metadata"] == {"delay": 3}


def test_a_continuation_keeps_its_task_and_context() -> None:
    message = compose_send({"text": "Ada", "taskId": "t-1", "contextId": "c-1"})["message"]
    assert (message["taskId"], message["contextId"]) == ("t-1", "c-1")
    assert "contextId" not in compose_send({"text": "Ada", "taskId": "t-1"})["message"]


@pytest.mark.parametrize(("body", "needle"), [
    ({}, "nothing to send"),
    ({"text": 5}, "text must be a string"),
    ({"text": "x", "bogus": 1}, "unknown field"),
    ({"files": [{"base64": "!!"}]}, "not valid base64"),
    ({"files": [{"name": "../etc/passwd", "base64": ""}]}, "plain file name"),
    ({"files": [{"mediaType": "nope", "base64": ""}]}, "type/subtype"),
    ({"files": "x"}, "files must be a list"),
    ({"text": "x", "taskId": "a b"}, "taskId"),
    ({"text": "x", "metadata": [1]}, "metadata must be a JSON object"),
])
def test_malformed_requests_say_what_is_wrong(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(ComposeError, match=needle):
        compose_send(body)


def test_parse_json_body_wants_an_object() -> None:
    with pytest.raises(ComposeError, match="not JSON"):
        parse_json_body(b"\xff")
    with pytest.raises(ComposeError, match="JSON object"):
        parse_json_body(b"[1]")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["text", "data", "files", "taskId", "contextId",
                                        "metadata", "other"]), _json, max_size=5))
def test_any_body_composes_or_is_refused_clearly(body: dict[str, Any]) -> None:
    try:
        params = compose_send(body)
    except ComposeError as exc:
        message = str(exc)
    else:
        json.dumps(params)  # always serialisable
        assert params["message"]["parts"]
        assert params["message"]["taskId"]
        return
    assert message


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_are_refused_clearly(raw: bytes) -> None:
    try:
        value: object = parse_json_body(raw)
    except ComposeError as exc:
        value = str(exc)
    assert isinstance(value, dict) or (isinstance(value, str) and value)
