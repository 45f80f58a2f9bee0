"""Strict JSON text for the binding: what decodes here can be encoded, stored and answered.

Python's ``json`` accepts more than the binding can carry (docs/binding.md §6.6):
``NaN``/``Infinity`` (not JSON at all), ``1e400`` (becomes infinity), integers
of any size, lone-surrogate escapes such as ``"\\ud800"`` (decode, but neither
encode back to UTF-8 nor go into protobuf), ``\\u0000`` (PostgreSQL text cannot
hold it) and nesting deep enough to exhaust the recursion limit. :func:`loads`
refuses the first group while decoding; :func:`value_problem` finds the strings
afterwards (callers run it when :func:`has_risky_escape` says it may find one).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

__all__ = ["MAX_DEPTH", "UnrepresentableError", "has_risky_escape", "loads", "value_problem"]

MAX_DEPTH: Final = 64
"""Deepest nesting of arrays and objects a payload may have (the envelope counts)."""
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1  # uint64 fields exist; Struct values are doubles anyway
_INT_DIGITS: Final = 21  # longer literals are out of range: rejected before int()
# Only an escape (or a str that was never UTF-8) can put a surrogate or U+0000 into a
# decoded string: texts without either skip the string walk.
_RISKY_ESCAPE: Final = re.compile("\\\\u(?:[dD][89a-fA-F]|0000)|[\ud800-\udfff\x00]")
_BAD_CHAR: Final = re.compile("[\ud800-\udfff\x00]")


class UnrepresentableError(ValueError):
    """A JSON value the binding refuses at decode time (raised from json's hooks)."""


def _no_constant(name: str) -> Any:
    raise UnrepresentableError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnrepresentableError(f"number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > _INT_DIGITS:
        raise UnrepresentableError(f"integer {text[:40]}... is out of range")
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise UnrepresentableError(f"integer {text} is out of range")
    return value


def loads(text: str) -> Any:
    """``json.loads`` that refuses what the binding cannot carry (ValueError otherwise)."""
    if text.count("{") + text.count("[") > MAX_DEPTH:
        depth = _max_depth(text)
        if depth > MAX_DEPTH:
            raise UnrepresentableError(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except RecursionError:  # the depth scan is exact for valid JSON; belt and braces
        raise UnrepresentableError(f"nesting deeper than {MAX_DEPTH} levels") from None


_STRINGS: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS: Final = re.compile(r"[\[\]{}]")


def _max_depth(text: str) -> int:
    """Deepest bracket nesting outside strings; stops counting once past the limit."""
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return depth
        else:
            depth -= 1
    return depth


def has_risky_escape(text: str) -> bool:
    """True if ``text`` may decode to a lone surrogate or U+0000 (needs :func:`value_problem`)."""
    return _RISKY_ESCAPE.search(text) is not None


def value_problem(value: Any) -> str | None:
    """What in a decoded value cannot be carried, as ``"<path> holds ..."``, or None.

    Finds lone surrogates and U+0000 in strings and keys; for values that did not
    come through :func:`loads`, also non-finite floats and nesting past
    :data:`MAX_DEPTH`. Iterative: any depth is safe to walk.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if _BAD_CHAR.search(item):
                return f"{path or 'value'} holds a lone surrogate or U+0000"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path or 'value'} holds a non-finite number"
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return f"{path or 'value'} is nested deeper than {MAX_DEPTH} levels"
            if isinstance(item, list):
                stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
                continue
            for key, sub in item.items():
                if not isinstance(key, str) or _BAD_CHAR.search(key):
                    return f"{path or 'value'} has a key that is not valid text"
                stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
    return None
