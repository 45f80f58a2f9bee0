"""Toolsmith's message grammar: ``TOOL {json arguments}``."""

from __future__ import annotations

import pytest

from a2a_mqtt.examples.toolsmith import parse_call


def test_parse_call() -> None:
    assert parse_call('add {"a": 1}') == ("add", {"a": 1})
    assert parse_call("ping") == ("ping", {})
    with pytest.raises(ValueError, match="JSON object"):
        parse_call("add [1]")
    with pytest.raises(ValueError, match="Expecting property name"):
        parse_call("add {broken")
