"""What recovery may answer: stored Response Topics and JSON-RPC ids (pure)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.server.inflight import InflightEntry, reply_topic_problem

BOUNDED = settings(derandomize=True, max_examples=400, deadline=None)
GOOD = "$a2a/v1/reply/org/unit/client-1/abc"


def entry(topic: str = GOOD, rid: str = '"r1"') -> InflightEntry:
    return InflightEntry(task_id="t", message_id="m", owner="o", method="unary",
                         response_topic=topic, correlation=b"c", request_id=rid)


def test_only_concrete_topics_in_the_reply_namespace_are_answerable() -> None:
    assert reply_topic_problem(GOOD) is None
    for bad in ("", "#", "+", "$SYS/broker/log", "$a2a/v1/reply/#", "$a2a/v1/reply/a/+/b",
                "$a2a/v1/discovery/org/unit/victim", "$a2a/v1/request/org/unit/victim",
                "a2a/v1/reply/x", "$a2a/v1/reply/a\0b", "$a2a/v1/reply/\ud800",
                "$a2a/v1/reply/" + "x" * 70_000):
        assert reply_topic_problem(bad) is not None, bad


def test_stored_ids_must_decode_to_a_json_rpc_id() -> None:
    assert entry(rid='"r1"').answer_problem is None
    assert entry(rid="7").answer_problem is None
    assert entry(rid="null").answer_problem is None
    for bad in ("not json", "", '"\\ud800"', "true", "1.5", "[1]", '{"a": 1}', "[" * 5000):
        assert entry(rid=bad).answer_problem is not None, bad
    assert entry(topic="#").answer_problem is not None


@BOUNDED
@given(topic=st.text(max_size=60), rid=st.text(max_size=30))
def test_any_stored_text_gives_a_verdict_never_an_exception(topic: str, rid: str) -> None:
    problem = entry(topic=topic, rid=rid).answer_problem
    if problem is None:
        assert topic.startswith("$a2a/v1/reply/") and not {"+", "#"} & set(topic)
        json.dumps(json.loads(rid), ensure_ascii=False).encode()
