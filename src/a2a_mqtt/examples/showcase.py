"""The showcase agent: every A2A operation and capability in one deterministic agent.

Its card declares streaming, push notifications and an extended card; its
executor produces every task state a client can meet and artifacts of every
part kind. It follows the A2A TCK's conventions (``a2aproject/a2a-tck``,
``scenarios/*.feature``): a ``messageId`` starting with ``tck-...`` selects a
scenario, so the conformance kit can drive it through the HTTP gateway.
Otherwise the first word of the text is a command:

=================  ==============================================================
``parts``          four artifacts: text, data (JSON), url and raw (file) parts
``ask``            INPUT_REQUIRED ("What is your name?"); the next turn completes
``auth``           AUTH_REQUIRED; the next turn completes
``slow N``         WORKING, waits N seconds (at most 60; cancel it meanwhile), completes
``chunks N``       one artifact streamed in N chunks (append / lastChunk)
``message``        answers with a Message instead of a task
``fail``           FAILED, ``reject``: REJECTED
anything else      an artifact echoing the text, COMPLETED
=================  ==============================================================
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from a2a.helpers import get_message_text, new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentSkill,
    Message,
    Part,
    Role,
    TaskState,
)

__all__ = ["ShowcaseExecutor", "showcase_card", "showcase_extended_card"]

_MAX_WAIT: Final = 60.0
_Scenario = Callable[["ShowcaseExecutor", TaskUpdater], Awaitable[None]]


def _text(text: str) -> list[Part]:
    return [Part(text=text)]


def _data_part(value: dict[str, Any]) -> Part:
    part = Part(media_type="application/json")
    part.data.struct_value.update(value)
    return part


def _file_part() -> Part:
    return Part(raw=b"tck", media_type="text/plain", filename="output.txt")


def _url_part() -> Part:
    return Part(url="https://example.com/output.txt", media_type="text/plain",
                filename="output.txt")


def _streaming_timeout() -> float:
    try:
        return max(0.0, min(float(os.environ.get("TCK_STREAMING_TIMEOUT", "2.0")), _MAX_WAIT))
    except ValueError:
        return 2.0


async def _stream_text(updater: TaskUpdater, text: str) -> None:
    await updater.start_work()
    await updater.add_artifact(_text(text))
    await updater.complete()


async def _chunked(updater: TaskUpdater, chunks: list[str]) -> None:
    await updater.start_work()
    for i, chunk in enumerate(chunks):
        await updater.add_artifact(_text(chunk), artifact_id="chunked", name="chunked",
                                   append=i > 0, last_chunk=i == len(chunks) - 1)
    await updater.complete()


# The TCK's scenarios by messageId prefix; longer prefixes first where one extends another.
_TCK: Final[tuple[tuple[str, _Scenario], ...]] = (
    ("tck-complete-task", lambda _, u: u.complete(u.new_agent_message(_text("Hello from TCK")))),
    ("tck-artifact-text", lambda _, u: _artifact_then_complete(u, Part(
        text="Generated text content"))),
    ("tck-artifact-file-url", lambda _, u: _artifact_then_complete(u, _url_part())),
    ("tck-artifact-file", lambda _, u: _artifact_then_complete(u, _file_part())),
    ("tck-artifact-data", lambda _, u: _artifact_then_complete(
        u, _data_part({"key": "value", "count": 42}))),
    ("tck-input-required", lambda _, u: u.requires_input()),
    ("tck-reject-task", lambda _, u: u.reject(u.new_agent_message(_text("rejected")))),
    ("tck-stream-001", lambda _, u: _stream_text(u, "Stream hello from TCK")),
    ("tck-stream-002", lambda _, u: u.complete()),
    ("tck-stream-003", lambda _, u: _stream_text(u, "Stream task lifecycle")),
    ("tck-stream-ordering-001", lambda _, u: _stream_text(u, "Ordered output")),
    ("tck-stream-artifact-text", lambda _, u: _stream_text(u, "Streamed text content")),
    ("tck-stream-artifact-file", lambda _, u: _start_artifact_complete(u, _file_part())),
    ("tck-stream-artifact-chunked", lambda _, u: _chunked(u, ["chunk-1 ", "chunk-2"])),
    ("test-resubscribe-message-id", lambda ex, u: ex.wait_then_complete(
        u, 2 * _streaming_timeout(), artifact=False)),
)


async def _artifact_then_complete(updater: TaskUpdater, part: Part) -> None:
    await updater.add_artifact([part])
    await updater.complete()


async def _start_artifact_complete(updater: TaskUpdater, part: Part) -> None:
    await updater.start_work()
    await _artifact_then_complete(updater, part)


class ShowcaseExecutor(AgentExecutor):
    """Runs the TCK scenarios and the showcase commands (see the module docstring)."""

    def __init__(self) -> None:
        self.executions = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.executions += 1
        message = context.message
        if message is None:
            return
        text = get_message_text(message).strip()
        command = (text.split() or [""])[0].lower()
        if message.message_id.startswith("tck-message-response") or (
                command == "message" and context.current_task is None):
            reply = "Direct message response" if message.message_id.startswith("tck-") else text
            await event_queue.enqueue_event(Message(
                message_id=f"reply-{message.message_id}", role=Role.ROLE_AGENT,
                parts=_text(reply), context_id=context.context_id or ""))
            return
        previous = context.current_task.status.state if context.current_task else None
        task = context.current_task
        if task is None:
            # Not new_task_from_user_message: it raises ValueError (an internal error for
            # the caller) on an empty text part or a non-user role; any message is echoed.
            task = new_task(context.task_id or message.task_id or str(uuid.uuid4()),
                            context.context_id or message.context_id or str(uuid.uuid4()),
                            TaskState.TASK_STATE_SUBMITTED, history=[message])
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        for prefix, scenario in _TCK:
            if message.message_id.startswith(prefix):
                await scenario(self, updater)
                return
        if previous == TaskState.TASK_STATE_INPUT_REQUIRED:
            await updater.add_artifact(_text(f"Hello, {text or 'stranger'}!"), name="greeting")
            await updater.complete()
        elif previous == TaskState.TASK_STATE_AUTH_REQUIRED:
            await updater.complete(updater.new_agent_message(_text("authorized")))
        else:
            await self._command(updater, command, text)

    async def _command(self, updater: TaskUpdater, command: str, text: str) -> None:
        words = text.split()
        number = float(words[1]) if len(words) > 1 and _is_number(words[1]) else None
        match command:
            case "parts":
                await updater.start_work(updater.new_agent_message(_text("making one of each")))
                for name, part in (("text", Part(text="plain text")),
                                   ("data", _data_part({"kind": "data", "count": 4})),
                                   ("url", _url_part()), ("file", _file_part())):
                    await updater.add_artifact([part], name=name)
                await updater.complete()
            case "ask":
                await updater.requires_input(updater.new_agent_message(
                    _text("What is your name?")))
            case "auth":
                await updater.requires_auth(updater.new_agent_message(
                    _text("Send credentials (any text) to continue")))
            case "slow":
                await self.wait_then_complete(updater, number if number is not None else 5.0)
            case "chunks":
                count = max(1, min(int(number or 3), 100))
                await _chunked(updater, [f"chunk-{i + 1} " for i in range(count)])
            case "fail":
                await updater.failed(updater.new_agent_message(_text("failed as asked")))
            case "reject":
                await updater.reject(updater.new_agent_message(_text("rejected as asked")))
            case _:
                await _stream_text(updater, text)

    async def wait_then_complete(self, updater: TaskUpdater, seconds: float, *,
                                 artifact: bool = True) -> None:
        """WORKING, a wait (cancellable: a2a-sdk cancels this coroutine), COMPLETED."""
        await updater.start_work(updater.new_agent_message(_text(f"working for {seconds:g}s")))
        await asyncio.sleep(max(0.0, min(seconds, _MAX_WAIT)))
        if artifact:
            await updater.add_artifact(_text(f"waited {seconds:g}s"), name="result")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id and context.context_id:
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


_SKILLS: Final = (
    AgentSkill(id="parts", name="Every part kind", tags=["artifacts", "showcase"],
               description="Artifacts with text, data, url and raw (file) parts.",
               examples=["parts"]),
    AgentSkill(id="multi-turn", name="Multi-turn", tags=["input-required", "showcase"],
               description="Asks for input (or credentials), completes on the next turn.",
               examples=["ask", "auth"]),
    AgentSkill(id="long-running", name="Long-running", tags=["streaming", "showcase"],
               description="Works for a while (cancel or resubscribe meanwhile), or streams "
                           "one artifact in chunks.", examples=["slow 5", "chunks 4"]),
    AgentSkill(id="tck", name="TCK scenarios", tags=["tck", "conformance"],
               description="The A2A TCK's messageId-prefix scenarios (tck-*)."),
)


def showcase_card(*, push: bool = True, required_extension: str | None = None) -> AgentCard:
    """The public card; ``required_extension`` adds a ``required: true`` extension."""
    card = AgentCard(
        name="Showcase", version="1.0.0",
        description="Every A2A operation and capability: streaming, push notifications, an "
                    "extended card, input-required, artifacts of every part kind.",
        capabilities=AgentCapabilities(streaming=True, push_notifications=push,
                                       extended_agent_card=True),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json", "text/uri-list"],
        skills=list(_SKILLS))
    if required_extension:
        card.capabilities.extensions.append(AgentExtension(
            uri=required_extension, required=True,
            description="Clients must declare it in A2A-Extensions."))
    return card


def showcase_extended_card(*, push: bool = True,
                           required_extension: str | None = None) -> AgentCard:
    """The extended card: the public one plus a skill only authenticated clients see."""
    card = showcase_card(push=push, required_extension=required_extension)
    card.description += " (extended card)"
    card.skills.append(AgentSkill(id="diagnostics", name="Diagnostics", tags=["internal"],
                                  description="Listed on the extended card only."))
    return card
