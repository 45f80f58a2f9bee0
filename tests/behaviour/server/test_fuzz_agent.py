"""Bounded, fixed-seed fuzz of an echo agent's request path against a real Mosquitto.

Hostile cases (:mod:`a2a_mqtt.examples.hostile`: payloads, Response Topics,
Correlation Data, User Properties, QoS 0/1/2, sizes) at up to 64 owed answers
in flight, a health request after every batch, an observer on ``#`` and
``$a2a/#``. The long run of the same rig is ``bench/fuzz_agent.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.examples.fuzzcheck import FuzzRig
from tests.behaviour.conftest import serve

pytestmark = pytest.mark.asyncio

CASES = 1200
BATCH = 100
MAX_PAYLOAD = 65_536
UNHANDLED = ("never retrieved", "Exception in callback", "outside its reply path",
             "background", "could not be published", "cannot be encoded")


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_hostile_traffic_breaks_no_promise(
        broker: MosquittoProcess, ref: AgentRef, tmp_path: Path, store: str,
        caplog: pytest.LogCaptureFixture) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/tasks.db"
    with caplog.at_level(logging.WARNING):
        async with serve(broker.url, ref, EchoExecutor(), echo_card(), task_store_url=url,
                         max_payload_bytes=MAX_PAYLOAD) as agent, \
                FuzzRig(broker_url=broker.url, agent=ref, seed=9,
                        max_payload=MAX_PAYLOAD) as rig:
            for _ in range(CASES // BATCH):
                await rig.batch(BATCH)
            tally = await rig.settle()
            assert agent.in_flight == 0
    assert tally.failures() == dict.fromkeys(tally.failures(), 0), tally
    assert tally.health_checks == CASES // BATCH
    assert tally.answered == tally.owed + tally.health_checks
    # The mix really was hostile: every kind of case, every refusal code seen.
    assert len(tally.kinds) == 11
    assert {-32700, -32600, -32602, -32005}.issubset(tally.codes)
    unhandled = [r.getMessage()[:200] for r in caplog.records
                 if r.levelno >= logging.ERROR and any(w in r.getMessage() for w in UNHANDLED)]
    assert unhandled == []
    assert not any(r.name.startswith("a2a_mqtt") and r.levelno >= logging.ERROR
                   for r in caplog.records)
