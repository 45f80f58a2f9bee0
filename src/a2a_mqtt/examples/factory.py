"""The production line from the seeds: inspection → quality control → supply chain.

Deterministic stand-ins for the three agents of the HiveMQ/EMQX example: the
inspector derives defect measurements from a hash of the part id, quality
control applies fixed thresholds, supply chain keeps an inventory count and
reorders what was rejected. Each streams its progress and returns a data
artifact the next stage accepts as input.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill, Message, Part
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.examples.basic import CancellableExecutor, _updater

__all__ = [
    "InspectionExecutor",
    "QualityControlExecutor",
    "SupplyChainExecutor",
    "inspection_card",
    "quality_card",
    "supply_card",
]


def _data_part(value: dict[str, Any]) -> Part:
    part = Part(media_type="application/json")
    part.data.struct_value.update(value)
    return part


def _input(message: Message | None) -> dict[str, Any]:
    """The first data part of the message, or its text as ``{"part": text}`` / parsed JSON."""
    if message is None:
        return {}
    for part in message.parts:
        if part.HasField("data"):
            value = MessageToDict(part.data)
            if isinstance(value, dict):
                return value
    text = " ".join(p.text for p in message.parts if p.HasField("text")).strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"part": text or "unknown"}
    return parsed if isinstance(parsed, dict) else {"part": text}


class InspectionExecutor(CancellableExecutor):
    """Measures a part (deterministically) and reports its defects."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        part_id = str(_input(context.message).get("part", "unknown"))
        await updater.start_work(updater.new_agent_message([Part(text=f"imaging {part_id}")]))
        digest = hashlib.sha256(part_id.encode()).digest()
        scratch = round(digest[0] / 255 * 0.8, 2)
        dent = round(digest[1] / 255 * 1.5, 2)
        color = round(digest[2] / 255 * 4.0, 2)
        await updater.start_work(updater.new_agent_message(
            [Part(text=f"analysing surface of {part_id}")]))
        report = {"part": part_id, "scratch_mm": scratch, "dent_mm": dent,
                  "color_delta_e": color}
        await updater.add_artifact([_data_part(report)], name="inspection-report")
        await updater.complete()



def decide(report: dict[str, Any]) -> tuple[str, str]:
    """PASS, REWORK, REJECT or HOLD with the reason, from fixed thresholds."""
    scratch = float(report.get("scratch_mm", 0))
    dent = float(report.get("dent_mm", 0))
    color = float(report.get("color_delta_e", 0))
    if dent > 1.2:
        return "REJECT", f"dent {dent} mm exceeds 1.2 mm"
    if scratch > 0.6:
        return "REWORK", f"scratch {scratch} mm exceeds 0.6 mm"
    if color > 3.5:
        return "HOLD", f"colour deviation {color} needs manual inspection"
    return "PASS", "within tolerances"


class QualityControlExecutor(CancellableExecutor):
    """Turns an inspection report into a disposition."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        report = _input(context.message)
        await updater.start_work(updater.new_agent_message(
            [Part(text=f"checking {report.get('part', '?')} against tolerances")]))
        decision, reason = decide(report)
        await updater.add_artifact([_data_part({"part": report.get("part", "unknown"),
                                                "decision": decision, "reason": reason})],
                                   name="disposition")
        await updater.complete()



class SupplyChainExecutor(CancellableExecutor):
    """Keeps stock counts and reorders rejected or reworked parts."""

    def __init__(self, *, stock: int = 100) -> None:
        self.stock = stock

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        disposition = _input(context.message)
        decision = str(disposition.get("decision", "PASS"))
        part = disposition.get("part", "unknown")
        await updater.start_work(updater.new_agent_message(
            [Part(text=f"updating inventory for {part} ({decision})")]))
        if decision == "PASS":
            self.stock += 1
            action = "added to finished-goods stock"
        elif decision in ("REJECT", "REWORK"):
            action = f"scheduled replacement order for {part}"
        else:
            action = "quarantined pending manual inspection"
        await updater.add_artifact([_data_part({"part": part, "decision": decision,
                                                "action": action, "stock": self.stock})],
                                   name="inventory-update")
        await updater.complete()



def _card(name: str, description: str, skill: AgentSkill) -> AgentCard:
    return AgentCard(
        name=name, description=description, version="1.0.0",
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["application/json"], skills=[skill])


def inspection_card() -> AgentCard:
    return _card("Part Inspection", "Images a part and measures surface defects.",
                 AgentSkill(id="inspect-part", name="Inspect part",
                            description="Measures scratches, dents and colour deviation.",
                            tags=["inspection", "vision", "line1"], examples=["P-1001"]))


def quality_card() -> AgentCard:
    return _card("Quality Control", "Decides PASS, REWORK, REJECT or HOLD for a part.",
                 AgentSkill(id="disposition", name="Disposition",
                            description="Applies tolerances to an inspection report.",
                            tags=["quality", "line1"]))


def supply_card() -> AgentCard:
    return _card("Supply Chain", "Adjusts inventory and reorders replacement parts.",
                 AgentSkill(id="inventory", name="Inventory update",
                            description="Updates stock and schedules replacement orders.",
                            tags=["supply-chain", "inventory", "line1"]))
