"""An ephemeral worker's reference is unique per attempt (docs/workflows.md)."""

from __future__ import annotations

import uuid

from a2a_mqtt.binding.stream import new_task_id
from a2a_mqtt.workflows.ephemeral_launch import worker_ref
from a2a_mqtt.workflows.events_codec import task_id_for

SCOPE = ("workflows", "workers")


def test_attempts_made_in_one_window_get_their_own_workers() -> None:
    """UUIDv7s made together share their leading (timestamp) digits; the reference
    takes the random ones, so no two attempts share a worker."""
    ids = [new_task_id() for _ in range(200)]
    assert len({worker_ref(SCOPE, "step", t) for t in ids}) == len(ids)


def test_references_from_v4_and_v5_ids_differ_too() -> None:
    ids = [str(uuid.uuid4()) for _ in range(100)]
    ids += [task_id_for("pipeline", "stage", "event", n) for n in range(100)]
    refs = {worker_ref(SCOPE, "step", t) for t in ids}
    assert len(refs) == len(ids)
    assert all(r.name.startswith("step-") and len(r.name) == 13 for r in refs)
