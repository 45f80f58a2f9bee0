"""Strict JSON text for the binding: what decodes here can be encoded, stored and answered.

Python's ``json`` accepts more than the binding can carry (docs/binding.md §6.6):
``NaN``/``Infinity`` (not JSON at all), ``1e400`` (becomes infinity), integers
of any size, lone-surrogate escapes such as ``"\\ud800"`` (decode, but neither
encode back to UTF-8 nor go into protobuf), ``\\u0000`` (PostgreSQL text cannot
hold it) and nesting deep enough to exhaust the recursion limit. :func:`loads`
refuses the first group while decoding; :func:`value_problem` finds the strings
afterwards (callers run it when :func:`has_risky_escape` says it may find one).

This is the one strict decoder of the project: the registry (cards) and the
gateway (HTTP bodies) call it too, with their own limits as parameters
(``int_range=None``: any integer a double can hold, as a card's numbers are
doubles to a2a-sdk; ``allow_nul``: leave U+0000 to a later layer).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any, Final

__all__ = ["INT_RANGE", "MAX_DEPTH", "NotJSONError", "UnrepresentableError",
           "has_risky_escape", "loads", "value_problem"]

MAX_DEPTH: Final = 64
"""Deepest nesting of arrays and objects a payload may have (the envelope counts)."""
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1  # uint64 fields exist; Struct values are doubles anyway
INT_RANGE: Final = (_INT_MIN, _INT_MAX)
"""The integers the binding accepts by default: int64 and uint64 fields."""
_INT_DIGITS: Final = 21  # longer literals are out of range: rejected before int()
_DOUBLE_DIGITS: Final = 300  # shorter integer literals always fit a double (~1.8e308)
# Only an escape (or a str that was never UTF-8) can put a surrogate or U+0000 into a
# decoded string: texts without either skip the string walk.
_RISKY_ESCAPE: Final = re.compile("\\\\u(?:[dD][89a-fA-F]|0000)|[\ud800-\udfff\x00]")
_ESCAPE: Final = re.compile("\\\\u(?:[dD][89a-fA-F]|0000)")
_BAD_CHAR: Final = re.compile("[\ud800-\udfff\x00]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class UnrepresentableError(ValueError):
    """A JSON value the binding refuses at decode time (raised from json's hooks)."""


class NotJSONError(UnrepresentableError):
    """``NaN``/``Infinity``: Python's json reads them; RFC 8259 has no such literal."""


def _no_constant(name: str) -> Any:
    raise NotJSONError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnrepresentableError(f"the number {text[:40]} overflows a double")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > _INT_DIGITS:
        raise UnrepresentableError(f"integer {text[:40]}... is out of range")
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise UnrepresentableError(f"integer {text} is out of range")
    return value


def _double_int(text: str) -> int:
    value = int(text)  # ValueError past Python's digit limit: not acceptable JSON either
    if len(text) > _DOUBLE_DIGITS:
        try:
            float(value)
        except OverflowError:
            raise UnrepresentableError(f"the number {text[:40]}... ({len(text)} digits) "
                                       "overflows a double") from None
    return value


@cache
def _int_parser(int_range: tuple[int, int] | None) -> Callable[[str], int]:
    if int_range is None:
        return _double_int
    if int_range == INT_RANGE:
        return _bounded_int
    low, high = int_range
    digits = max(len(str(low)), len(str(high)))

    def parse(text: str) -> int:
        value = None if len(text) > digits else int(text)
        if value is None or not low <= value <= high:
            raise UnrepresentableError(f"integer {text[:40]} is out of range")
        return value
    return parse


def loads(text: str, *, max_depth: int = MAX_DEPTH,
          int_range: tuple[int, int] | None = INT_RANGE) -> Any:
    """``json.loads`` that refuses what the binding cannot carry (ValueError otherwise).

    Refused with :class:`UnrepresentableError`: ``NaN``/``Infinity``, floats that
    overflow a double, integers outside ``int_range`` (None: outside a double's
    range), nesting deeper than ``max_depth``. Strings are :func:`value_problem`'s.
    """
    if text.count("{") + text.count("[") > max_depth:
        depth = _max_depth(text, max_depth)
        if depth > max_depth:
            raise UnrepresentableError(f"nesting deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                          parse_int=_int_parser(int_range))
    except RecursionError:  # the depth scan is exact for valid JSON; belt and braces
        raise UnrepresentableError(f"nesting deeper than {max_depth} levels") from None


_STRINGS: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS: Final = re.compile(r"[\[\]{}]")


def _max_depth(text: str, limit: int) -> int:
    """Deepest bracket nesting outside strings; stops counting once past ``limit``."""
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return depth
        else:
            depth -= 1
    return depth


def has_risky_escape(text: str) -> bool:
    """True if ``text`` may decode to a lone surrogate or U+0000 (needs :func:`value_problem`)."""
    if text.isascii():
        # ASCII text (O(1) to tell) holds no surrogate: only a NUL or a ``\u`` escape can
        # match, and both are found by substring search, far cheaper than the regex's scan
        # of every character (3 % of a requester's CPU on a 650-byte reply).
        return "\x00" in text or ("\\u" in text and _ESCAPE.search(text) is not None)
    return _RISKY_ESCAPE.search(text) is not None


def value_problem(value: Any, *, max_depth: int = MAX_DEPTH,
                  allow_nul: bool = False) -> str | None:
    """What in a decoded value cannot be carried, as ``"<path> holds ..."``, or None.

    Finds lone surrogates and U+0000 in strings and keys; for values that did not
    come through :func:`loads`, also non-finite floats and nesting past
    ``max_depth``. Iterative: any depth is safe to walk. ``allow_nul``: only lone
    surrogates count (U+0000 is left to a later layer).
    """
    bad = _SURROGATE if allow_nul else _BAD_CHAR
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if bad.search(item):
                return f"{path or 'value'} holds a lone surrogate or U+0000"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path or 'value'} holds a non-finite number"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return f"{path or 'value'} is nested deeper than {max_depth} levels"
            if isinstance(item, list):
                stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
                continue
            for key, sub in item.items():
                if not isinstance(key, str) or bad.search(key):
                    return f"{path or 'value'} has a key that is not valid text"
                stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
    return None
