"""Event-driven pipelines, the pure part: topics, the event format and its identifiers.

No I/O here. A pipeline is a workflow whose steps have ``trigger:``; each stage
consumes one topic (the pipeline's input, or one upstream stage's results) and
publishes on its own result or error topic (docs/binding.md §13):

    $a2a/v1/flow/{pipeline}/input            events that start the pipeline
    $a2a/v1/flow/{pipeline}/{stage}/result   a stage's results
    $a2a/v1/flow/{pipeline}/{stage}/error    a stage's refusals and failures
    $a2a/v1/flow/{pipeline}/{stage}/status   retained presence (the Will says offline)

An event is a JSON object. It carries the template context the next stage renders
its input from (the pipeline's inputs and every upstream stage's output), so no
supervisor has to remember it. Identifiers are deterministic: a stage's result for
upstream event ``E`` has the id ``derived_id(stage, E)``, and its agent call uses
the Task.id ``task_id_for(...)``; a redelivered event therefore produces the same
result id (downstream stages drop it) and the same Task.id (the agent answers it
from its task store instead of running it again, binding §6.2).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from a2a_mqtt.binding.topics import PREFIX
from a2a_mqtt.errors import A2AMqttError

__all__ = [
    "MAX_EVENT_BYTES",
    "FlowEvent",
    "FlowEventError",
    "context_id_for",
    "decode_event",
    "derived_id",
    "encode_error",
    "encode_event",
    "flow_filter",
    "flow_input_topic",
    "flow_trigger_topic",
    "payload_id",
    "stage_client_id",
    "stage_error_topic",
    "stage_result_topic",
    "stage_status_topic",
    "task_id_for",
]

MAX_EVENT_BYTES = 1_048_576
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_NAMESPACE = uuid.UUID("5b0f5e0e-6a47-4b39-9a53-2f3c1c7a9e11")  # fixed: ids must not change
_VERSION = 1


class FlowEventError(A2AMqttError):
    """An event a stage cannot use; the stage publishes it as an error event."""


def flow_input_topic(pipeline: str) -> str:
    return f"{PREFIX}/flow/{pipeline}/input"


def stage_result_topic(pipeline: str, stage: str) -> str:
    return f"{PREFIX}/flow/{pipeline}/{stage}/result"


def stage_error_topic(pipeline: str, stage: str) -> str:
    return f"{PREFIX}/flow/{pipeline}/{stage}/error"


def stage_status_topic(pipeline: str, stage: str) -> str:
    return f"{PREFIX}/flow/{pipeline}/{stage}/status"


def flow_trigger_topic(pipeline: str, trigger: str) -> str:
    """What a stage with ``trigger`` (``input`` or an upstream stage) subscribes to."""
    if trigger == "input":
        return flow_input_topic(pipeline)
    return stage_result_topic(pipeline, trigger)


def flow_filter(pipeline: str) -> str:
    """Everything a pipeline publishes (for monitors)."""
    return f"{PREFIX}/flow/{pipeline}/#"


def stage_client_id(pipeline: str, stage: str) -> str:
    """The stage consumer's MQTT Client ID: fixed, so its persistent session survives it."""
    return f"a2a-mqtt-flow/{pipeline}/{stage}"


def derived_id(stage: str, upstream_id: str) -> str:
    """The id of ``stage``'s outcome for the upstream event ``upstream_id``."""
    return hashlib.sha256(f"{stage}\0{upstream_id}".encode()).hexdigest()[:32]


def payload_id(payload: bytes) -> str:
    """An id for an event that has none of its own (an undecodable payload)."""
    return "payload-" + hashlib.sha256(payload).hexdigest()[:24]


def task_id_for(pipeline: str, stage: str, event_id: str, attempt: int) -> str:
    """The Task.id of one attempt of ``stage`` on ``event_id``: the same after a restart."""
    return str(uuid.uuid5(_NAMESPACE, f"task\0{pipeline}\0{stage}\0{event_id}\0{attempt}"))


def context_id_for(pipeline: str, origin: str) -> str:
    """One contextId for every call made on behalf of one input event."""
    return str(uuid.uuid5(_NAMESPACE, f"context\0{pipeline}\0{origin}"))


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """One event: an input (``stage`` None) or a stage's result."""

    id: str
    origin: str
    """The id of the input event this one descends from."""
    stage: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Upstream outputs: name -> {"status": "completed", "output": {"text", "data"}}."""

    def context(self) -> dict[str, Any]:
        """What the templates of the next stage render against."""
        return {"inputs": dict(self.inputs), "steps": dict(self.steps)}


def encode_event(event: FlowEvent, pipeline: str) -> bytes:
    body = {"v": _VERSION, "id": event.id, "origin": event.origin, "pipeline": pipeline,
            "stage": event.stage, "inputs": event.inputs, "steps": event.steps}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def encode_error(*, pipeline: str, stage: str, event_id: str, source: str | None,
                 origin: str | None, error: str) -> bytes:
    """An error event: which stage refused which upstream event, and why."""
    body = {"v": _VERSION, "id": event_id, "pipeline": pipeline, "stage": stage,
            "source": source, "origin": origin, "error": error[:2000]}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise FlowEventError(f"{what} must be 1-128 characters of letters, digits, "
                             f"'_', '.', ':' or '-'")
    return value


def decode_event(payload: bytes, *, pipeline: str) -> FlowEvent:
    """A received payload as an event; FlowEventError (with the reason) when it is not one.

    Input events need only ``id`` and ``inputs``; result events are what
    :func:`encode_event` wrote. Anything else is refused, never half-read.
    """
    if len(payload) > MAX_EVENT_BYTES:
        raise FlowEventError(f"event of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FlowEventError("event is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise FlowEventError("event is not a JSON object")
    if body.get("v", _VERSION) != _VERSION:
        raise FlowEventError(f"unsupported event version {body.get('v')!r}")
    if body.get("pipeline", pipeline) != pipeline:
        raise FlowEventError(f"event belongs to pipeline {body.get('pipeline')!r}")
    event_id = _identifier(body.get("id"), "event id")
    origin = _identifier(body.get("origin", event_id), "origin")
    stage = body.get("stage")
    if stage is not None and not isinstance(stage, str):
        raise FlowEventError("stage must be a string")
    inputs = body.get("inputs", {})
    if not isinstance(inputs, dict):
        raise FlowEventError("inputs must be a JSON object")
    steps = body.get("steps", {})
    if not isinstance(steps, dict):
        raise FlowEventError("steps must be a JSON object")
    for name, view in steps.items():
        output = view.get("output") if isinstance(view, dict) else None
        if not isinstance(output, dict) or not isinstance(output.get("text", ""), str):
            raise FlowEventError(f"steps.{name} must be {{status, output: {{text, data}}}}")
    return FlowEvent(id=event_id, origin=origin, stage=stage, inputs=inputs, steps=steps)
