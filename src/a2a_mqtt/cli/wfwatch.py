"""The client side of ``a2a-mqtt workflow run|list|show|cancel``.

``run`` is an ordinary A2A call: a streaming SendMessage with a new Task.id and
the inputs as one data part. Progress items (workflows/progress.py) are printed
one a line with ``--watch``; an item whose ``seq`` was already printed (repeated
by a supervisor that took the run over) is skipped. An input-required step is
answered from ``--reply`` or the terminal, on the same task.
"""

from __future__ import annotations

import uuid
from typing import Any

import click
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict

from a2a_mqtt.binding.stream import new_task_id
from a2a_mqtt.cli.common import Settings
from a2a_mqtt.cli.output import parts_text
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.workflows.model import Workflow
from a2a_mqtt.workflows.progress import META_KEY
from a2a_mqtt.workflows.state import RunState
from a2a_mqtt.workflows.store import RunStore

__all__ = ["cancel_run", "list_runs", "load_run", "run_workflow"]

_END = (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED)


def _text(parts: Any) -> str:
    return parts_text(parts, sort_keys=True)


async def run_workflow(settings: Settings, agent: str, inputs: dict[str, Any], *,
                       watch: bool, replies: list[str]) -> int:
    """Run to the end; 0 if it completed, 1 otherwise."""
    async with A2AMqttClient(settings.requester(), discover=True) as mqtt:
        client = await mqtt.connect(agent, timeout=settings.timeout)
        task_id = new_task_id()
        data = Part(media_type="application/json")
        ParseDict(inputs, data.data)
        message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, task_id=task_id,
                          parts=[data])
        seen: set[int] = set()
        click.echo(f"run {task_id}", err=True)
        while True:
            state: int | None = None
            prompt = ""
            async for item in client.send_message(SendMessageRequest(message=message)):
                state, prompt = _show(item, seen, watch, state, prompt)
            if state == TaskState.TASK_STATE_INPUT_REQUIRED:
                answer = replies.pop(0) if replies else click.prompt(prompt or "input")
                message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                                  task_id=task_id, parts=[Part(text=answer)])
                continue
            return 0 if state == TaskState.TASK_STATE_COMPLETED else 1


def _show(item: StreamResponse, seen: set[int], watch: bool, state: int | None,
          prompt: str) -> tuple[int | None, str]:
    kind = item.WhichOneof("payload")
    if kind == "task":
        task = item.task
        if task.status.state in _END or task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            for artifact in task.artifacts:
                click.echo(_text(artifact.parts))
            if task.status.HasField("message"):
                click.echo(f"[{TaskState.Name(task.status.state)}] "
                           f"{_text(task.status.message.parts)}", err=True)
        return task.status.state, _text(task.status.message.parts)
    if kind == "artifact_update":
        click.echo(_text(item.artifact_update.artifact.parts))
        return state, prompt
    if kind != "status_update":
        return state, prompt
    update = item.status_update
    meta = MessageToDict(update.metadata).get(META_KEY, {})
    seq = meta.get("seq") if isinstance(meta, dict) else None
    if isinstance(seq, int | float):
        if int(seq) in seen:
            return update.status.state, prompt  # a repeat after a takeover
        seen.add(int(seq))
    text = _text(update.status.message.parts[:1]) if update.status.HasField("message") else ""
    if watch or update.status.state != TaskState.TASK_STATE_WORKING:
        name = TaskState.Name(update.status.state).removeprefix("TASK_STATE_").lower()
        click.echo(f"{name}: {text}" if text else name, err=True)
    return update.status.state, text


async def list_runs(db: str, workflow: str | None, limit: int) -> list[dict[str, Any]]:
    from a2a_mqtt.workflows.leases import Leases  # noqa: PLC0415

    async with RunStore(db) as store:
        rows = await Leases(store.engine, owner="", ttl=0).list_runs(workflow, limit)
    return [{"runId": r.run_id, "workflow": r.workflow, "status": r.status,
             "owner": r.owner, "epoch": r.epoch, "startedAt": r.started_at,
             "error": r.error} for r in rows]


async def load_run(db: str, run_id: str, workflow: Workflow) -> RunState:
    async with RunStore(db) as store:
        try:
            return await store.load(run_id, workflow)
        except KeyError:
            where = db.rsplit("@", maxsplit=1)[-1]  # never the password
            raise click.ClickException(f"no run {run_id} in {where}") from None


async def cancel_run(settings: Settings, agent: str, run_id: str) -> str:
    async with A2AMqttClient(settings.requester(), discover=True) as mqtt:
        client = await mqtt.connect(agent, timeout=settings.timeout)
        task = await client.cancel_task(CancelTaskRequest(id=run_id))
        return f"{run_id}: {TaskState.Name(task.status.state)}"
