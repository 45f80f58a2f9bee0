"""How the CLI prints things: one line per fact for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

import click
from a2a.types.a2a_pb2 import StreamResponse, Task
from google.protobuf.json_format import MessageToDict

from a2a_mqtt.client.discovery import AgentEntry

__all__ = ["echo_json", "entry_dict", "event_line", "parts_text", "task_line"]


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def entry_dict(entry: AgentEntry, *, with_card: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": str(entry.ref), "name": entry.name, "status": entry.status,
        "statusSource": entry.status_source, "skills": list(entry.skill_ids),
        "tags": sorted(entry.tags),
    }
    if entry.problems:
        out["problems"] = list(entry.problems)
    if with_card and entry.card is not None:
        out["card"] = MessageToDict(entry.card)
    return out


def parts_text(parts: Any, *, sort_keys: bool = False) -> str:
    """A2A parts on one line: text as it is, data as JSON, files by URL or size."""
    chunks = []
    for part in parts:
        if part.HasField("text"):
            chunks.append(part.text)
        elif part.HasField("data"):
            chunks.append(json.dumps(MessageToDict(part.data), ensure_ascii=False,
                                     sort_keys=sort_keys))
        elif part.HasField("url"):
            chunks.append(part.url)
        elif part.HasField("raw"):
            chunks.append(f"[{len(part.raw)} bytes {part.media_type or 'binary'}]")
    return " ".join(chunks)


def _state(state: int) -> str:
    from a2a.types.a2a_pb2 import TaskState  # noqa: PLC0415

    return TaskState.Name(state).removeprefix("TASK_STATE_")


def task_line(task: Task) -> str:
    text = parts_text(task.status.message.parts) if task.status.HasField("message") else ""
    arts = "; ".join(parts_text(a.parts) for a in task.artifacts)
    out = f"{task.id}  {_state(task.status.state):<14} {text}"
    return f"{out}\n    artifacts: {arts}" if arts else out


def event_line(event: StreamResponse) -> str:
    kind = event.WhichOneof("payload")
    if kind == "task":
        return f"[task {event.task.id}] {_state(event.task.status.state)}"
    if kind == "message":
        return f"[message] {parts_text(event.message.parts)}"
    if kind == "status_update":
        s = event.status_update.status
        text = parts_text(s.message.parts) if s.HasField("message") else ""
        return f"[status] {_state(s.state)} {text}".rstrip()
    if kind == "artifact_update":
        a = event.artifact_update.artifact
        return f"[artifact {a.name or a.artifact_id}] {parts_text(a.parts)}"
    return "[empty]"
