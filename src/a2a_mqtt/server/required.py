"""a2a-sdk's required-field check of a request, with its descriptor work done once.

a2a-sdk's ``validate_request_params`` decorator runs
``validate_proto_required_fields`` on every request: for every field of every
nested message it reads the field's options and their ``field_behavior``
extension, and walks every present sub-message, Struct metadata included. On
the lean path that was 15 % of the agent's CPU (docs/performance.md, "Round 3").

:func:`validated` is the same decorator for the lean handler. It first asks
:func:`may_be_invalid`, which reads each message type's required fields once
(cached per descriptor) and skips sub-trees that cannot hold a required field;
only when that finds a violation does a2a-sdk's own
``validate_proto_required_fields`` run, so the error a client gets is still
a2a-sdk's, word for word.

Invariant (tested against a2a-sdk on generated messages): ``may_be_invalid(m)``
is true exactly when ``validate_proto_required_fields(m)`` raises.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from a2a.utils.proto_utils import validate_proto_required_fields
from google.api.field_behavior_pb2 import FieldBehavior, field_behavior
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

__all__ = ["may_be_invalid", "validated"]

_REQUIRED: Final = FieldBehavior.REQUIRED
_MESSAGE: Final = FieldDescriptor.TYPE_MESSAGE
# How a nested message field holds its sub-messages.
_SINGULAR, _REPEATED, _MAP = 0, 1, 2
# How a required field counts as missing (a2a-sdk's rules): an empty list or map; not
# present (a field with presence); equal to its default (a field without presence).
_EMPTY, _ABSENT, _DEFAULT = 0, 1, 2
# A required field: (name, how it counts as missing, the default it must differ from).
_Required = tuple[str, int, Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the check needs of one message type."""

    required: tuple[_Required, ...]
    nested: dict[str, int]
    """Message-typed fields whose sub-tree can hold a required field: name -> kind."""


def _is_required(field: FieldDescriptor) -> bool:
    return _REQUIRED in field.GetOptions().Extensions[field_behavior]


def _kind(field: FieldDescriptor) -> int:
    if not field.is_repeated:
        return _SINGULAR
    entry = field.message_type
    return _MAP if entry is not None and entry.GetOptions().map_entry else _REPEATED


def _sub_types(descriptor: Descriptor) -> list[Descriptor]:
    """The message types one field away (a map's entry stands for its key and value)."""
    return [f.message_type for f in descriptor.fields
            if f.type == _MESSAGE and f.message_type is not None]


@functools.cache
def _can_hold_required(descriptor: Descriptor) -> bool:
    """Whether ``descriptor`` or any message type reachable from it has a required field."""
    seen = {descriptor.full_name}
    todo = [descriptor]
    while todo:
        current = todo.pop()
        if any(_is_required(f) for f in current.fields):
            return True
        for sub in _sub_types(current):
            if sub.full_name not in seen:
                seen.add(sub.full_name)
                todo.append(sub)
    return False


@functools.cache
def _plan(descriptor: Descriptor) -> _Plan:
    required: list[_Required] = []
    nested: dict[str, int] = {}
    for field in descriptor.fields:
        if _is_required(field):
            if field.is_repeated:
                required.append((field.name, _EMPTY, None))
            elif field.has_presence:
                required.append((field.name, _ABSENT, None))
            else:
                required.append((field.name, _DEFAULT, field.default_value))
        if field.type == _MESSAGE and _can_hold_required(field.message_type):
            nested[field.name] = _kind(field)
    return _Plan(tuple(required), nested)


def may_be_invalid(message: ProtoMessage) -> bool:
    """True when a2a-sdk's ``validate_proto_required_fields(message)`` would raise."""
    plan = _plan(message.DESCRIPTOR)
    for name, how, default in plan.required:
        if how == _EMPTY:
            if not getattr(message, name):
                return True
        elif how == _ABSENT:
            if not message.HasField(name):
                return True
        elif getattr(message, name) == default:
            return True
    nested = plan.nested
    if not nested:
        return False
    # Present fields only: a2a-sdk skips absent sub-messages and has nothing to walk
    # in an empty list or map.
    for field, value in message.ListFields():
        kind = nested.get(field.name)
        if kind is None:
            continue
        if kind == _SINGULAR:
            if may_be_invalid(value):
                return True
        elif kind == _REPEATED:
            if any(may_be_invalid(item) for item in value):
                return True
        elif any(isinstance(item, ProtoMessage) and may_be_invalid(item)
                 for item in value.values()):
            return True
    return False


def _check(params: Any) -> None:
    if params is not None and may_be_invalid(params):
        validate_proto_required_fields(params)  # a2a-sdk's error, as its decorator raises


def validated(method: Callable[..., Any]) -> Callable[..., Any]:
    """a2a-sdk's ``validate_request_params`` for a handler method (coroutine or async
    generator), with :func:`may_be_invalid` in front of a2a-sdk's walk."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, params: Any, context: Any, *args: Any, **kwargs: Any
                         ) -> Any:
            _check(params)
            inner = method(self, params, context, *args, **kwargs)
            try:
                async for item in inner:
                    yield item
            finally:
                await inner.aclose()  # as a2a-sdk's wrapper: close it explicitly

        return stream

    @functools.wraps(method)
    async def call(self: Any, params: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        _check(params)
        return await method(self, params, context, *args, **kwargs)

    return call
