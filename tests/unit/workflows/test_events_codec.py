"""The event-driven pipelines' pure part: topics, identifiers and the event decoder."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.workflows.events_codec import (
    MAX_EVENT_BYTES,
    FlowEvent,
    FlowEventError,
    context_id_for,
    decode_event,
    derived_id,
    encode_error,
    encode_event,
    flow_filter,
    flow_trigger_topic,
    payload_id,
    stage_client_id,
    stage_error_topic,
    stage_result_topic,
    stage_status_topic,
    task_id_for,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,40}", fullmatch=True)


def test_topics_follow_the_binding_layout() -> None:
    assert flow_trigger_topic("line", "input") == "$a2a/v1/flow/line/input"
    assert flow_trigger_topic("line", "inspect") == "$a2a/v1/flow/line/inspect/result"
    assert stage_result_topic("line", "judge") == "$a2a/v1/flow/line/judge/result"
    assert stage_error_topic("line", "judge") == "$a2a/v1/flow/line/judge/error"
    assert stage_status_topic("line", "judge") == "$a2a/v1/flow/line/judge/status"
    assert flow_filter("line") == "$a2a/v1/flow/line/#"
    assert stage_client_id("line", "judge") == "a2a-mqtt-flow/line/judge"


def test_identifiers_are_deterministic_and_distinct() -> None:
    assert derived_id("judge", "e1") == derived_id("judge", "e1")
    assert derived_id("judge", "e1") != derived_id("book", "e1")
    assert derived_id("judge", "e1") != derived_id("judge", "e2")
    first = task_id_for("line", "judge", "e1", 0)
    assert first == task_id_for("line", "judge", "e1", 0)
    assert first != task_id_for("line", "judge", "e1", 1)
    assert str(uuid.UUID(first)) == first          # the binding wants canonical UUIDs
    assert context_id_for("line", "e1") != context_id_for("line", "e2")
    assert payload_id(b"x") == payload_id(b"x") != payload_id(b"y")


@given(ids, ids, st.sampled_from([None, "inspect"]),
       st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                       st.builds(lambda t, d: {"status": "completed",
                                               "output": {"text": t, "data": d}},
                                 st.text(max_size=10), json_values), max_size=3))
def test_an_encoded_event_decodes_to_itself(event_id: str, origin: str, stage: str | None,
                                            inputs: dict[str, Any],
                                            steps: dict[str, dict[str, Any]]) -> None:
    event = FlowEvent(id=event_id, origin=origin, stage=stage, inputs=inputs, steps=steps)
    assert decode_event(encode_event(event, "line"), pipeline="line") == event


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused_with_a_reason(payload: bytes) -> None:
    reason = ""
    try:
        event = decode_event(payload, pipeline="line")
    except FlowEventError as exc:
        reason = str(exc)
    else:
        assert event.id
        return
    assert reason


@given(json_values)
def test_any_json_decodes_or_is_refused_with_a_reason(value: Any) -> None:
    reason = "decoded"
    try:
        decode_event(json.dumps(value).encode(), pipeline="line")
    except FlowEventError as exc:
        reason = str(exc)
    assert reason


@pytest.mark.parametrize(("payload", "reason"), [
    (b"[]", "not a JSON object"),
    (b'{"id": "a b"}', "event id must be"),
    (b'{"id": "e", "v": 2}', "unsupported event version"),
    (b'{"id": "e", "pipeline": "other"}', "belongs to pipeline 'other'"),
    (b'{"id": "e", "inputs": []}', "inputs must be a JSON object"),
    (b'{"id": "e", "steps": {"a": 1}}', "steps.a must be"),
    (b'{"id": "e", "stage": 3}', "stage must be a string"),
    (b'{"id": "' + b"x" * 200 + b'"}', "event id must be"),
    (b" " * (MAX_EVENT_BYTES + 1), "exceeds"),
])
def test_refusals_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(FlowEventError, match=reason):
        decode_event(payload, pipeline="line")


def test_an_error_event_is_bounded_json() -> None:
    body = json.loads(encode_error(pipeline="line", stage="judge", event_id="x", source=None,
                                   origin=None, error="e" * 10_000))
    assert body["stage"] == "judge"
    assert len(body["error"]) == 2000
