"""The A2A 1.0 AgentCard JSON Schema, derived from a2a-sdk's protobuf descriptors.

Deriving it (rather than hand-copying one) keeps it exactly as strict as the
data model a2a-sdk ships: every object type has ``additionalProperties:
false`` and lists the fields the proto marks ``REQUIRED``; both the ProtoJSON
camelCase and the proto snake_case spellings are accepted, as in EMQX's
registry schema. Well-known types (Struct, Value, Timestamp) map to their JSON
forms. Nothing here does I/O.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from a2a.types.a2a_pb2 import AgentCard
from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["agent_card_schema"]

_REQUIRED: Final = field_behavior_pb2.REQUIRED
_SCALARS: Final[dict[int, dict[str, Any]]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_ENUM: {"type": ["string", "integer"]},
    FieldDescriptor.TYPE_DOUBLE: {"type": ["number", "string"]},
    FieldDescriptor.TYPE_FLOAT: {"type": ["number", "string"]},
    # ProtoJSON writes 64-bit integers as strings.
    FieldDescriptor.TYPE_INT64: {"type": ["integer", "string"]},
    FieldDescriptor.TYPE_UINT64: {"type": ["integer", "string"]},
    FieldDescriptor.TYPE_INT32: {"type": "integer"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer"},
}
_WELL_KNOWN: Final[dict[str, dict[str, Any]]] = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Timestamp": {"type": "string"},
}


def _field_schema(field: FieldDescriptor, defs: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single(value_field, defs)}
    item = _single(field, defs)
    return {"type": "array", "items": item} if field.is_repeated else item


def _single(field: FieldDescriptor, defs: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is None:
        return dict(_SCALARS.get(field.type, {}))
    return _message_ref(field.message_type, defs)


def _message_ref(message: Descriptor, defs: dict[str, Any]) -> dict[str, Any]:
    if message.full_name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[message.full_name])
    if message.name not in defs:
        defs[message.name] = {}  # placeholder breaks recursion
        defs[message.name] = _object_schema(message, defs)
    return {"$ref": f"#/definitions/{message.name}"}


def _object_schema(message: Descriptor, defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in message.fields:
        schema = _field_schema(field, defs)
        properties[field.json_name] = schema
        if field.name != field.json_name:
            properties[field.name] = schema
        behaviours = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
        if _REQUIRED in behaviours:
            required.append(field.json_name)
    out: dict[str, Any] = {"type": "object", "properties": properties,
                           "additionalProperties": False}
    if required:
        out["required"] = required
    return out


@cache
def agent_card_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) an Agent Card payload must satisfy."""
    defs: dict[str, Any] = {}
    root = _object_schema(AgentCard.DESCRIPTOR, defs)  # type: ignore[arg-type]
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "A2A 1.0 AgentCard",
            **root, "definitions": defs}
