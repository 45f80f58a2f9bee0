"""binding.jsontext with a caller's limits: the registry's and the gateway's settings."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from a2a_mqtt.binding import jsontext
from a2a_mqtt.binding.jsontext import (
    INT_RANGE,
    NotJSONError,
    UnrepresentableError,
    has_risky_escape,
    loads,
    value_problem,
)


def test_int_range_none_takes_any_integer_a_double_holds() -> None:
    big = str(10**30)
    with pytest.raises(UnrepresentableError, match="out of range"):
        loads(big)  # the binding's default: int64/uint64
    assert loads(big, int_range=None) == 10**30
    with pytest.raises(UnrepresentableError, match="overflows a double"):
        loads("1" + "0" * 320, int_range=None)


def test_a_custom_int_range_and_depth() -> None:
    assert loads("[5]", int_range=(0, 9)) == [5]
    for text in ("[10]", "[-1]", "[123456789012]"):
        with pytest.raises(UnrepresentableError, match="out of range"):
            loads(text, int_range=(0, 9))
    assert loads("[[[1]]]", max_depth=3) == [[[1]]]
    with pytest.raises(UnrepresentableError, match="deeper than 2"):
        loads("[[[1]]]", max_depth=2)


def test_constants_are_not_json_and_nul_can_be_left_to_a_later_layer() -> None:
    with pytest.raises(NotJSONError):
        loads('{"x": NaN}')
    value = loads('{"a\\u0000": "b"}')
    assert value_problem(value) is not None
    assert value_problem(value, allow_nul=True) is None
    assert value_problem(loads('["\\ud800"]'), allow_nul=True) is not None


@given(st.integers(min_value=-(2**70), max_value=2**70), st.integers(1, 80))
def test_limits_decide_exactly(number: int, depth: int) -> None:
    text = "[" * depth + str(number) + "]" * depth
    in_range = INT_RANGE[0] <= number <= INT_RANGE[1]
    try:
        loads(text, max_depth=40)
    except UnrepresentableError:
        assert depth > 40 or not in_range
    else:
        assert depth <= 40 and in_range
    assert json.loads(text) == loads(text, max_depth=80, int_range=None)


_ASCII_PIECES = ["a", "\\u", "\\ud8", "\\uD", "\\udfff", "\\u0000", "\\u00e9", "\\\\",
                 "\x00", "0", "f", "{", '"']
_PIECES = [*_ASCII_PIECES, "é", "\ud800", "\udc00"]


@example("\x00")
@example("a\\u0000")
@example("é\\ud800")
@given(st.one_of(st.lists(st.sampled_from(_ASCII_PIECES), max_size=12).map("".join),
                 st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)))
def test_the_ascii_shortcut_finds_what_the_full_scan_finds(text: str) -> None:
    assert has_risky_escape(text) == (jsontext._RISKY_ESCAPE.search(text) is not None)
