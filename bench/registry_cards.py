"""A synthetic fleet of valid Agent Cards for the registry benchmark (deterministic).

``fleet(n)`` spreads ``n`` agents over 20 orgs x 50 units; each card has 1-3
skills drawn from 300 skill ids and 200 tags, a name and description from a
small vocabulary, media types from a short list, and the binding's MQTT
interface and routing extension -- what ``prepare_card`` would publish, built
as JSON directly (100x faster than through protobuf). About 1 % are pools and
10 % are offline.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

from a2a_mqtt.binding.card import BINDING_URI, ROUTING_EXTENSION_URI
from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic

__all__ = ["ORGS", "TAGS", "UNITS", "BenchCard", "fleet"]

ORGS = [f"org{i:02d}" for i in range(20)]
UNITS = [f"unit{i:02d}" for i in range(50)]
TAGS = [f"tag{i:03d}" for i in range(200)]
SKILLS = [f"skill-{i:03d}" for i in range(300)]
WORDS = ["inspect", "line", "conveyor", "camera", "weld", "paint", "quality", "supply",
         "order", "stock", "robot", "arm", "vision", "defect", "report", "summary",
         "translate", "plan", "route", "forecast", "sensor", "pump", "valve", "thermal",
         "acoustic", "torque", "batch", "schedule", "invoice", "ledger", "audit", "triage",
         "label", "sort", "pack", "ship", "track", "weigh", "measure", "calibrate", "maintain",
         "predict", "alert"]
MODES = ["text/plain", "application/json", "image/png", "image/jpeg", "audio/wav",
         "application/pdf"]


@dataclass(frozen=True, slots=True)
class BenchCard:
    ref: AgentRef
    topic: str
    payload: bytes
    status: str


def _card(rnd: random.Random, ref: AgentRef, i: int) -> dict[str, object]:
    skills = []
    for _ in range(rnd.randint(1, 3)):
        skills.append({
            "id": rnd.choice(SKILLS), "name": " ".join(rnd.sample(WORDS, 2)).title(),
            "description": " ".join(rnd.sample(WORDS, 8)),
            "tags": rnd.sample(TAGS, rnd.randint(1, 3)),
            "examples": [" ".join(rnd.sample(WORDS, 4))]})
    return {
        "name": f"{rnd.choice(WORDS).title()} {rnd.choice(WORDS)} agent {i}",
        "description": " ".join(rnd.sample(WORDS, 12)),
        "supportedInterfaces": [{"url": "mqtt://broker.bench:1883",
                                 "protocolBinding": BINDING_URI, "protocolVersion": "1.0"}],
        "version": "1.0.0",
        "capabilities": {"streaming": True, "extensions": [{
            "uri": ROUTING_EXTENSION_URI,
            "description": "Where to send A2A requests over MQTT 5 (a2a-mqtt binding).",
            "params": {"agentRef": str(ref), "requestTopic": request_topic(ref)}}]},
        "defaultInputModes": rnd.sample(MODES, rnd.randint(1, 2)),
        "defaultOutputModes": rnd.sample(MODES, 1),
        "skills": skills,
    }


def fleet(n: int, *, seed: int = 1) -> Iterator[BenchCard]:
    rnd = random.Random(seed)
    for i in range(n):
        org, unit = ORGS[i % len(ORGS)], UNITS[(i // len(ORGS)) % len(UNITS)]
        ref = AgentRef(org, unit, f"agent-{i:06d}", pool=rnd.random() < 0.01)
        body = json.dumps(_card(rnd, ref, i), separators=(",", ":")).encode()
        status = "offline" if rnd.random() < 0.1 else "online"
        yield BenchCard(ref, discovery_topic(ref), body, status)
