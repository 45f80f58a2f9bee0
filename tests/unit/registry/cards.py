"""Card payloads for the registry tests: valid ones built with the binding, and variants."""

from __future__ import annotations

import json
from typing import Any

from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill

from a2a_mqtt.binding.card import card_to_dict, prepare_card
from a2a_mqtt.binding.topics import AgentRef

BROKER = "mqtt://broker.example.com:1883"


def card_dict(ref: AgentRef, *, name: str = "Line inspector",
              description: str = "Inspects production lines for defects",
              skills: list[dict[str, Any]] | None = None,
              inputs: tuple[str, ...] = ("text/plain",),
              outputs: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    """A publishable card for ``ref`` (MQTT interface and routing extension included)."""
    specs = skills if skills is not None else [
        {"id": "inspect", "name": "Inspect", "description": "Inspect a conveyor line",
         "tags": ["inspection", "Vision"], "examples": ["inspect line 4"]}]
    card = AgentCard(name=name, description=description, version="1.0.0",
                     capabilities=AgentCapabilities(streaming=True),
                     default_input_modes=list(inputs), default_output_modes=list(outputs),
                     skills=[AgentSkill(**spec) for spec in specs])
    return card_to_dict(prepare_card(card, ref=ref, broker_url=BROKER))


def payload(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def card_bytes(ref: AgentRef, **kwargs: Any) -> bytes:
    return payload(card_dict(ref, **kwargs))
