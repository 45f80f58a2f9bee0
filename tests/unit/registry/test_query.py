"""Parsing queries: HTTP parameters, A2A data parts and text; clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from a2a_mqtt.registry.errors import QueryError
from a2a_mqtt.registry.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Query,
    decode_cursor,
    encode_cursor,
)


def test_parameters_become_filters() -> None:
    q = Query.from_params([("org", "acme"), ("unit", "plant-a"), ("agent", "a.1"),
                           ("tag", "Inspection"), ("tag", "vision"), ("skill", "inspect"),
                           ("input", "Text/Plain"), ("output", "image/*"), ("q", "Conveyor belt"),
                           ("status", "ONLINE"), ("kind", "agent"), ("name", "Line"),
                           ("limit", "10"), ("card", "false")])
    assert (q.org, q.unit, q.agent, q.kind, q.status) == ("acme", "plant-a", "a.1", "agent",
                                                          "online")
    assert q.tags == ("inspection", "vision") and q.skills == ("inspect",)
    assert q.inputs == ("text/plain",) and q.outputs == ("image/*",)
    assert q.words == ("conveyor", "belt") and q.name == "line"
    assert q.limit == 10 and q.card is False


def test_defaults() -> None:
    q = Query.from_params([])
    assert q == Query() and q.limit == DEFAULT_LIMIT and q.card and q.after is None


@pytest.mark.parametrize(("items", "message"), [
    ([("foo", "1")], "unknown query parameter 'foo'"),
    ([("org", "a"), ("org", "b")], "'org' given more than once"),
    ([("tag", " ")], "'tag' is empty"),
    ([("org", "a b")], "org 'a b' is not a valid identifier"),
    ([("status", "sleeping")], "status must be one of online, offline, unknown"),
    ([("kind", "robot")], "kind must be one of agent, pool"),
    ([("limit", "ten")], "limit must be an integer"),
    ([("limit", "0")], f"limit must be between 1 and {MAX_LIMIT}"),
    ([("limit", str(MAX_LIMIT + 1))], f"limit must be between 1 and {MAX_LIMIT}"),
    ([("cursor", "garbage")], "cursor is not valid"),
    ([("cursor", "c1.%%%")], "cursor is not valid"),
    ([("q", "!!! ...")], "has no words"),
    ([("changed_since", "yesterday")], "changed_since must be"),
    ([("changed_since", "2026-01-01T00:00:00")], "needs a time zone"),
    ([("card", "maybe")], "card must be true or false"),
])
def test_malformed_parameters_say_what_is_wrong(items: list[tuple[str, str]],
                                                message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Query.from_params(items)


def test_changed_since_accepts_epoch_and_iso() -> None:
    assert Query.from_params([("changed_since", "1700000000.5")]).changed_since == 1700000000.5
    moment = datetime(2026, 1, 31, 12, tzinfo=UTC).timestamp()
    assert Query.from_params([("changed_since", "2026-01-31T12:00:00Z")]).changed_since == moment


def test_cursor_round_trip_is_opaque() -> None:
    for key in ("acme/plant/a", "o/u/pool/p", "ü/ñ/x"):
        cursor = encode_cursor(key)
        assert "/" not in cursor and decode_cursor(cursor) == key
        assert Query.from_params([("cursor", cursor)]).after == key


def test_from_mapping_takes_lists_and_struct_numbers() -> None:
    q = Query.from_mapping({"tag": ["a", "B"], "org": "acme", "limit": 5.0, "card": False})
    assert q.tags == ("a", "b") and q.org == "acme" and q.limit == 5 and not q.card
    with pytest.raises(QueryError, match="org must be a string; got list"):
        Query.from_mapping({"org": ["a"]})
    with pytest.raises(QueryError, match="tag must be a string or a list of strings; got dict"):
        Query.from_mapping({"tag": {"x": 1}})
    with pytest.raises(QueryError, match="unknown query parameter 'colour'"):
        Query.from_mapping({"colour": "red"})


def test_from_text_mixes_filters_and_words() -> None:
    q = Query.from_text("tag:inspection status:online conveyor http://x belt limit:3")
    assert q.tags == ("inspection",) and q.status == "online" and q.limit == 3
    assert q.words == ("conveyor", "http", "x", "belt")
    assert Query.from_text("") == Query()
    with pytest.raises(QueryError, match="status must be one of"):
        Query.from_text("status:maybe")
