"""Bundled example agents, runnable with ``a2a-mqtt example NAME``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from a2a.server.agent_execution import AgentExecutor
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.examples.basic import EchoExecutor, GreeterExecutor, echo_card, greeter_card
from a2a_mqtt.examples.factory import (
    InspectionExecutor,
    QualityControlExecutor,
    SupplyChainExecutor,
    inspection_card,
    quality_card,
    supply_card,
)
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card, showcase_extended_card

__all__ = ["EXAMPLES", "Example"]


@dataclass(frozen=True, slots=True)
class Example:
    """A bundled agent: its default reference, card and executor factory."""

    default_ref: str
    card: Callable[[], AgentCard]
    executor: Callable[[], AgentExecutor]
    extended_card: Callable[[], AgentCard] | None = None
    """Served by GetExtendedAgentCard, when the example has one."""


EXAMPLES: dict[str, Example] = {
    "echo": Example("demo/examples/echo", echo_card, EchoExecutor),
    "greeter": Example("demo/examples/greeter", greeter_card, GreeterExecutor),
    "inspection": Example("factory/line1/inspection", inspection_card, InspectionExecutor),
    "quality": Example("factory/line1/quality-control", quality_card, QualityControlExecutor),
    "supply": Example("factory/line1/supply-chain", supply_card, SupplyChainExecutor),
    "showcase": Example("demo/examples/showcase", showcase_card, ShowcaseExecutor,
                        extended_card=showcase_extended_card),
}
