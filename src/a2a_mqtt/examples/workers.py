"""The production-line agents as ``module:factory`` specs for ephemeral workers.

``runner: ephemeral`` with ``agent: a2a_mqtt.examples.workers:inspection`` spawns a
worker serving a fresh inspection agent for one step (docs/workflows.md §5).
"""

from __future__ import annotations

from a2a_mqtt.examples.factory import (
    InspectionExecutor,
    QualityControlExecutor,
    SupplyChainExecutor,
    inspection_card,
    quality_card,
    supply_card,
)
from a2a_mqtt.workflows.ephemeral import WorkerAgent

__all__ = ["inspection", "quality", "supply"]


def inspection() -> WorkerAgent:
    return WorkerAgent(card=inspection_card(), executor=InspectionExecutor())


def quality() -> WorkerAgent:
    return WorkerAgent(card=quality_card(), executor=QualityControlExecutor())


def supply() -> WorkerAgent:
    return WorkerAgent(card=supply_card(), executor=SupplyChainExecutor())
