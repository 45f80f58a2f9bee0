"""The registry as an A2A agent: a ``find-agents`` skill served over MQTT.

A request's first data part holding an object is a structured query (the
HTTP parameter names; lists for ``skill``, ``tag``, ``input``, ``output``);
otherwise its text is read as ``name:value`` filters plus free words, e.g.
``tag:inspection status:online conveyor``. The answer is a completed task
whose artifact ``agents`` has one data part ``{"total", "next", "items"}``,
each item the entry of ``GET /agents`` with its card. A malformed query
rejects the task (``TASK_STATE_REJECTED``) with a message saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    Message,
    Part,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import UnsupportedOperationError
from google.protobuf.json_format import MessageToDict

from a2a_mqtt._version import __version__
from a2a_mqtt.registry.errors import QueryError
from a2a_mqtt.registry.query import Query
from a2a_mqtt.registry.render import entry_dict
from a2a_mqtt.registry.service import RegistryService

__all__ = ["SKILL_ID", "RegistryExecutor", "registry_card"]

SKILL_ID = "find-agents"


def registry_card() -> AgentCard:
    """The registry agent's card (the MQTT interface and routing are added when served)."""
    return AgentCard(
        name="Agent registry",
        description="Finds agents by org, unit, skill, tag, media type, status or free text "
                    "among every Agent Card retained on this broker.",
        version=__version__, capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["application/json"],
        skills=[AgentSkill(
            id=SKILL_ID, name="Find agents",
            description="Answers a query (text 'tag:inspection status:online conveyor' or a "
                        "data part with the registry's HTTP parameters) with the matching "
                        "cards as a data part {total, next, items}.",
            tags=["registry", "discovery", "search"],
            examples=["tag:inspection status:online",
                      '{"org": "acme", "skill": ["inspect"], "limit": 10}'],
            input_modes=["text/plain", "application/json"],
            output_modes=["application/json"])])


def _query(message: Message | None, default_limit: int) -> Query:
    data: dict[str, Any] | None = None
    texts: list[str] = []
    for part in message.parts if message is not None else ():
        if part.HasField("data") and data is None:
            value = MessageToDict(part.data)
            if not isinstance(value, dict):
                raise QueryError("the data part must hold an object of query parameters")
            data = value
        elif part.HasField("text"):
            texts.append(part.text)
    if data is not None:
        query = Query.from_mapping(data)
        named = "limit" in data
    else:
        text = " ".join(texts)
        query = Query.from_text(text)
        named = any(word.startswith("limit:") for word in text.split())
    return query if named else dataclasses.replace(query, limit=default_limit)


class RegistryExecutor(AgentExecutor):
    """Answers ``find-agents`` from the registry's index; every answer is immediate."""

    def __init__(self, service: RegistryService) -> None:
        self.service = service

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None  # a2a-sdk validated the request
            # Not a2a-sdk's new_task_from_user_message: it raises on an empty text part,
            # which is a valid query here (everything).
            message = context.message
            task = Task(id=message.task_id or str(uuid.uuid4()),
                        context_id=message.context_id or str(uuid.uuid4()),
                        status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                        history=[message])
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        try:
            query = _query(context.message, self.service.config.default_agent_limit)
        except QueryError as exc:
            await updater.reject(updater.new_agent_message([Part(text=f"bad query: {exc}")]))
            return
        page = self.service.index.query(query)
        result = {"total": page.total, "next": page.next,
                  "items": [entry_dict(e, card=query.card) for e in page.items]}
        part = Part(media_type="application/json")
        part.data.struct_value.update(result)
        await updater.add_artifact([part], name="agents", last_chunk=True)
        summary = f"{page.total} agent(s) match; {len(page.items)} in this answer"
        await updater.complete(updater.new_agent_message([Part(text=summary)]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise UnsupportedOperationError(message="registry queries finish at once")
