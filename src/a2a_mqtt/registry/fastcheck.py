"""A compiled yes/no check of the Agent Card schema, ~40x faster than jsonschema.

The registry checks every retained card; at 100,000 cards jsonschema's
``is_valid`` alone would take ~25 s. :func:`compile_check` turns the schema
of :func:`a2a_mqtt.binding.card_schema.agent_card_schema` into nested
closures that answer only *valid or not*. Reasons for an invalid card still
come from jsonschema (``validate.schema_problems``, the same lines as
``binding.card.card_problems``), which runs only for the rare invalid card.

Invariants:

* the check accepts exactly what jsonschema's Draft 7 validator accepts for
  the keywords used (``type``, ``properties``, ``additionalProperties``,
  ``required``, ``items``, ``$ref`` into ``definitions``); the unit tests
  compare both on thousands of mutated cards;
* any other keyword makes :func:`compile_check` raise, so a schema that grows
  a keyword cannot be checked silently wrong.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

from a2a_mqtt.binding.card_schema import agent_card_schema

__all__ = ["Check", "card_is_valid", "compile_check"]

Check = Callable[[Any], bool]

_IGNORED: Final = frozenset({"$schema", "title", "definitions", "description"})
_KNOWN: Final = frozenset({"type", "properties", "additionalProperties", "required",
                           "items", "$ref"}) | _IGNORED


def _accept(value: Any) -> bool:
    return True


def _is_integer(value: Any) -> bool:
    # Draft 6+: 1.0 is an integer; bool is never a number.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_null(value: Any) -> bool:
    return value is None


# ``str.__instancecheck__`` is ``isinstance(x, str)`` without a Python frame.
_TYPES: Final[dict[str, Check]] = {
    "string": str.__instancecheck__, "boolean": bool.__instancecheck__,
    "integer": _is_integer, "number": _is_number, "object": dict.__instancecheck__,
    "array": list.__instancecheck__, "null": _is_null,
}


def _type_check(spec: str | list[str]) -> Check:
    names = [spec] if isinstance(spec, str) else list(spec)
    checks = [_TYPES[name] for name in names]
    if len(checks) == 1:
        return checks[0]

    def any_of(value: Any) -> bool:
        return any(check(value) for check in checks)
    return any_of


class _Compiler:
    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self._definitions = definitions
        self._compiled: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        prefix = "#/definitions/"
        if not target.startswith(prefix):
            raise ValueError(f"unsupported $ref {target!r}")
        name = target[len(prefix):]
        if name not in self._compiled:
            # Late binding breaks recursion: the table is filled before first use.
            compiled = self._compiled

            def deref(value: Any) -> bool:
                return compiled[name](value)
            compiled[name] = deref
            compiled[name] = self.schema(self._definitions[name])
        return self._compiled[name]

    def schema(self, schema: Mapping[str, Any]) -> Check:
        unknown = set(schema) - _KNOWN
        if unknown:
            raise ValueError(f"schema keyword(s) {sorted(unknown)} are not supported")
        if "$ref" in schema:
            return self.ref(schema["$ref"])  # Draft 7 ignores siblings of $ref
        type_spec = schema.get("type")
        checks: list[Check] = []
        strict = False  # whether the structural check below also enforces "type"
        if {"properties", "additionalProperties", "required"} & set(schema):
            strict = type_spec == "object"
            checks.append(self._object(schema, strict=strict))
        if "items" in schema:
            strict = type_spec == "array"
            checks.append(self._array(self.schema(schema["items"]), strict=strict))
        if type_spec is not None and not (strict and len(checks) == 1):
            checks.insert(0, _type_check(type_spec))
        if not checks:
            return _accept
        if len(checks) == 1:
            return checks[0]
        first, *rest = checks

        def all_of(value: Any) -> bool:
            return first(value) and all(check(value) for check in rest)
        return all_of

    @staticmethod
    def _array(item: Check, *, strict: bool) -> Check:
        if item is _accept:
            return list.__instancecheck__ if strict else _accept

        def array(value: Any) -> bool:
            if not isinstance(value, list):
                return not strict  # "items" alone constrains arrays only
            return all(map(item, value))
        return array

    def _object(self, schema: Mapping[str, Any], *, strict: bool) -> Check:
        props = {name: self.schema(sub) for name, sub in schema.get("properties", {}).items()}
        extra_spec = schema.get("additionalProperties", True)
        closed = extra_spec is False
        extra = None if isinstance(extra_spec, bool) else self.schema(extra_spec)
        required = tuple(schema.get("required", ()))
        get = props.get

        def obj(value: Any) -> bool:
            if not isinstance(value, dict):
                return not strict  # the object keywords alone constrain objects only
            for name in required:
                if name not in value:
                    return False
            for key, item in value.items():
                check = get(key)
                if check is None:
                    if closed or (extra is not None and not extra(item)):
                        return False
                elif not check(item):
                    return False
            return True
        return obj


def compile_check(schema: Mapping[str, Any]) -> Check:
    """A function telling whether a decoded JSON value satisfies ``schema``."""
    return _Compiler(schema.get("definitions", {})).schema(schema)


@cache
def _card_check() -> Check:
    return compile_check(agent_card_schema())


def card_is_valid(data: Any) -> bool:
    """True if ``data`` satisfies the A2A 1.0 AgentCard schema and every skill has a tag.

    Exactly ``not validate.schema_problems(data)``, computed quickly.
    """
    if not _card_check()(data):
        return False
    for skill in data.get("skills") or ():
        if isinstance(skill, dict) and skill.get("tags") == []:
            return False
    return True
