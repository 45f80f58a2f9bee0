"""The production-line agents as ``module:factory`` specs for ephemeral workers.

``runner: ephemeral`` with ``agent: a2a_mqtt.examples.workers:inspection`` spawns a
worker serving a fresh inspection agent for one step (docs/workflows.md §9). Each
factory returns ``(card, executor)``, a form the worker accepts (examples sit beside
workflows in the layers, so they do not import it).
"""

from __future__ import annotations

from a2a.server.agent_execution import AgentExecutor
from a2a.types.a2a_pb2 import AgentCard

from a2a_mqtt.examples.factory import (
    InspectionExecutor,
    QualityControlExecutor,
    SupplyChainExecutor,
    inspection_card,
    quality_card,
    supply_card,
)

__all__ = ["inspection", "quality", "supply"]


def inspection() -> tuple[AgentCard, AgentExecutor]:
    return inspection_card(), InspectionExecutor()


def quality() -> tuple[AgentCard, AgentExecutor]:
    return quality_card(), QualityControlExecutor()


def supply() -> tuple[AgentCard, AgentExecutor]:
    return supply_card(), SupplyChainExecutor()
