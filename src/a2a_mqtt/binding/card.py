"""Agent Cards on the wire: binding identifier, MQTT interface, routing, validation.

A card published by this binding (docs/binding.md §5):

* lists an interface whose ``protocolBinding`` is :data:`BINDING_URI` (peers
  that say ``MQTTv5+JSONRPCv2`` or ``MQTT5+JSONRPC`` are accepted as aliases)
  and whose ``url`` is the broker URL;
* carries the routing extension :data:`ROUTING_EXTENSION_URI` whose params
  name the agent (``agentRef``) and its request topic, so a card fetched
  anywhere but its discovery topic still says where to send requests;
* validates against :func:`agent_card_schema` (no unknown fields, skills with
  tags), the rules EMQX's registry enforces.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import jsonschema
from a2a.types.a2a_pb2 import AgentCard, AgentExtension, AgentInterface
from google.protobuf.json_format import MessageToDict, ParseDict

from a2a_mqtt.binding.card_schema import agent_card_schema
from a2a_mqtt.binding.envelope import dumps
from a2a_mqtt.binding.jsontext import has_risky_escape, loads, value_problem
from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.errors import ConfigError, InvalidCardError

__all__ = [
    "BINDING_ALIASES",
    "BINDING_URI",
    "PROTOCOL_VERSION",
    "ROUTING_EXTENSION_URI",
    "card_problems",
    "card_to_dict",
    "encode_card",
    "find_mqtt_interface",
    "is_mqtt_binding",
    "parse_card",
    "pool_of",
    "prepare_card",
    "routing_ref",
]

BINDING_URI: Final = "urn:a2a:binding:mqtt5:v1"
# Labels other implementations use for the same binding.
BINDING_ALIASES: Final = ("MQTTv5+JSONRPCv2", "MQTT5+JSONRPC", "MQTT")
PROTOCOL_VERSION: Final = "1.0"
ROUTING_EXTENSION_URI: Final = "urn:a2a:binding:mqtt5:v1:routing"
_ALL_LABELS: Final = frozenset(label.lower() for label in (BINDING_URI, *BINDING_ALIASES))


def is_mqtt_binding(label: str) -> bool:
    """True for our binding URI and its aliases (case-insensitive)."""
    return label.lower() in _ALL_LABELS


def find_mqtt_interface(card: AgentCard) -> AgentInterface | None:
    """The card's first MQTT interface, in the card's preference order."""
    for iface in card.supported_interfaces:
        if is_mqtt_binding(iface.protocol_binding):
            return iface
    return None


def routing_ref(card: AgentCard) -> AgentRef | None:
    """The agent reference the routing extension names, if present and valid."""
    for ext in card.capabilities.extensions:
        if ext.uri == ROUTING_EXTENSION_URI:
            ref = ext.params.fields.get("agentRef")
            if ref is not None and ref.HasField("string_value"):
                try:
                    return AgentRef.parse(ref.string_value)
                except ConfigError:
                    return None
    return None


def pool_of(card: AgentCard) -> AgentRef | None:
    """The pool a member card says its agent serves (routing extension ``pool``)."""
    for ext in card.capabilities.extensions:
        if ext.uri == ROUTING_EXTENSION_URI:
            value = ext.params.fields.get("pool")
            if value is not None and value.HasField("string_value"):
                try:
                    return AgentRef.parse(value.string_value)
                except ConfigError:
                    return None
    return None


def prepare_card(card: AgentCard, *, ref: AgentRef, broker_url: str,
                 pool: AgentRef | None = None) -> AgentCard:
    """A copy of ``card`` ready to publish for ``ref`` on the broker at ``broker_url``.

    Adds (or refreshes) the MQTT interface and the routing extension; raises
    ConfigError when the card would be rejected by a schema-validating
    registry (missing name/description/version, skills without tags, ...).
    """
    out = AgentCard()
    out.CopyFrom(card)
    if not out.version:
        out.version = "1.0.0"
    if not out.default_input_modes:
        out.default_input_modes.append("text/plain")
    if not out.default_output_modes:
        out.default_output_modes.append("text/plain")
    iface = find_mqtt_interface(out)
    if iface is None:
        iface = out.supported_interfaces.add()
    iface.url = broker_url
    iface.protocol_binding = BINDING_URI
    iface.protocol_version = PROTOCOL_VERSION
    kept = [e for e in out.capabilities.extensions if e.uri != ROUTING_EXTENSION_URI]
    del out.capabilities.extensions[:]
    out.capabilities.extensions.extend(kept)
    ext = AgentExtension(uri=ROUTING_EXTENSION_URI, required=False,
                         description="Where to send A2A requests over MQTT 5 (a2a-mqtt binding).")
    ext.params.update({"agentRef": str(ref), "requestTopic": request_topic(ref)})
    if pool is not None:
        ext.params.update({"pool": str(pool)})
    out.capabilities.extensions.append(ext)
    problems = card_problems(card_to_dict(out))
    if problems:
        raise ConfigError(f"agent card for {ref} is not publishable: " + "; ".join(problems))
    return out


def card_to_dict(card: AgentCard) -> dict[str, Any]:
    """ProtoJSON of the card, without a2a-sdk's 0.3 compatibility fields."""
    return MessageToDict(card)


def encode_card(card: AgentCard) -> bytes:
    """The retained payload of a card."""
    return dumps(card_to_dict(card))


def card_problems(data: Any) -> list[str]:
    """Every schema violation of a card's JSON, as ``path: message`` lines (empty if valid)."""
    validator = _validator()
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(card)"
        problems.append(f"{where}: {err.message}")
    skills = data.get("skills") if isinstance(data, dict) else None
    if isinstance(skills, list):
        for i, skill in enumerate(skills):
            if isinstance(skill, dict) and skill.get("tags") == []:
                problems.append(f"skills/{i}/tags: a skill needs at least one tag")
    return problems


def parse_card(payload: bytes | str | Any, *, max_bytes: int | None = None,
               validate: bool = True) -> AgentCard:
    """Decode a card payload (bytes, text, or already-decoded JSON); raise InvalidCardError
    saying why it is unusable."""
    risky = True
    if not isinstance(payload, bytes | bytearray | str):
        data: Any = payload
    else:
        size = len(payload.encode() if isinstance(payload, str) else payload)
        if max_bytes is not None and size > max_bytes:
            raise InvalidCardError(f"card payload of {size} bytes exceeds {max_bytes}")
        try:
            text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
            data = loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidCardError(f"card payload is not UTF-8 JSON: {exc}") from None
        risky = has_risky_escape(text)
    if not isinstance(data, dict):
        raise InvalidCardError("card payload is not a JSON object")
    problem = value_problem(data) if risky else None
    if problem is not None:
        # Such a card could be neither re-encoded nor stored (docs/binding.md §5.3).
        raise InvalidCardError(f"card field {problem}")
    if validate:
        problems = card_problems(data)
        if problems:
            raise InvalidCardError("card fails the A2A 1.0 schema: " + "; ".join(problems[:5]),
                                   data=problems)
    try:
        return ParseDict(data, AgentCard(), ignore_unknown_fields=not validate)
    except Exception as exc:  # ParseError and nested TypeErrors
        raise InvalidCardError(f"card is not an A2A 1.0 AgentCard: {exc}") from exc


@cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(agent_card_schema())
