"""What recovery may answer: stored Response Topics and JSON-RPC ids (pure)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.binding.topics import reply_topic_problem
from a2a_mqtt.server.inflight import InflightEntry

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


def test_a_stored_id_that_cannot_be_sent_back_becomes_null() -> None:
    assert entry(rid='"r1"').reply_id == "r1"
    assert entry(rid="7").reply_id == 7
    assert entry(rid="null").reply_id is None
    for bad in ("not json", "", '"\\ud800"', "true", "1.5", "[1]", '{"a": 1}', "[" * 5000):
        assert entry(rid=bad).reply_id is None, bad


@BOUNDED
@given(topic=st.text(max_size=60), rid=st.text(max_size=30))
def test_any_stored_text_gives_a_verdict_never_an_exception(topic: str, rid: str) -> None:
    if reply_topic_problem(topic) is None:
        assert topic.startswith("$a2a/v1/reply/") and not {"+", "#", "\0"} & set(topic)
        topic.encode()
    reply_id = entry(rid=rid).reply_id
    assert reply_id is None or isinstance(reply_id, str | int)
    json.dumps(reply_id, ensure_ascii=False).encode()
