"""The lean MQTT load generator's requests go where partition dispatch says: the ids
``task_ids_for`` makes land on the asked worker (``pooling.worker_of`` on the very bytes
the generator publishes), so the ``2 workers, all to w0`` bench row measures what it
claims."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from a2a_mqtt.binding.envelope import task_named
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.mqtt_types import IncomingMessage, PublishProperties
from a2a_mqtt.server.pooling import worker_of

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from harness.lean import LeanRequester, ordered_task_ids, task_ids_for


@pytest.mark.parametrize(("worker", "workers"), [(0, 2), (1, 2), (2, 3)])
def test_ids_for_a_worker_reach_that_worker(worker: int, workers: int) -> None:
    requester = LeanRequester("mqtt://127.0.0.1:1", AgentRef("bench", "w", "agent"))
    make = task_ids_for(worker, workers)
    for _ in range(200):
        task_id = make()
        payload = requester.payload(task_id)
        assert task_named(payload) == str(task_id)
        msg = IncomingMessage(
            topic="t",
            payload=payload,
            qos=1,
            retain=False,
            properties=PublishProperties(correlation_data=task_id.hex.encode()),
        )
        assert worker_of(msg, workers) == worker


def test_plain_ids_reach_every_worker() -> None:
    requester = LeanRequester("mqtt://127.0.0.1:1", AgentRef("bench", "w", "agent"))
    seen = set()
    for _ in range(200):
        task_id = uuid.uuid4()
        msg = IncomingMessage(
            topic="t",
            payload=requester.payload(task_id),
            qos=1,
            retain=False,
            properties=PublishProperties(),
        )
        seen.add(worker_of(msg, 2))
    assert seen == {0, 1}


def test_the_default_ids_are_time_ordered_uuid7s() -> None:
    """As docs/binding.md §6.2 asks of a requester (and A2AMqttClient does): each id is
    a UUIDv7 greater than the one before, also when picked for a worker (LeanRequester's
    default is ``ordered_task_ids``)."""
    for make in (ordered_task_ids(), task_ids_for(1, 2)):
        ids = [make() for _ in range(300)]
        assert all(task_id.version == 7 for task_id in ids)
        assert [str(t) for t in ids] == sorted(str(t) for t in ids)
        assert len(set(ids)) == len(ids)
