"""Small deterministic example agents: echo and a multi-turn greeter.

``echo`` streams a WORKING status, then an artifact whose text is the input,
then COMPLETED. A ``delay`` (seconds, at most 60) in the request metadata
(``SendMessageRequest.metadata``; ``a2a-mqtt send --metadata '{"delay": 30}'``)
makes it wait before the artifact, which is how tests and the CLI exercise
cancel. ``greeter`` asks for a name (INPUT_REQUIRED) and completes on the
second turn.
"""

from __future__ import annotations

import asyncio

from a2a.helpers import get_message_text, new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill, Part, Role
from a2a.utils.errors import InvalidParamsError

__all__ = ["CancellableExecutor", "EchoExecutor", "GreeterExecutor", "echo_card", "greeter_card"]

_MAX_DELAY = 60.0


async def _updater(context: RequestContext, queue: EventQueue) -> TaskUpdater:
    task = context.current_task
    if task is None:
        assert context.message is not None
        if context.message.role != Role.ROLE_USER:
            # A client error, not ours: answered -32602 rather than -32603.
            raise InvalidParamsError(message="message.role must be ROLE_USER")
        task = new_task_from_user_message(context.message)
        await queue.enqueue_event(task)
    return TaskUpdater(queue, task.id, task.context_id)


class CancellableExecutor(AgentExecutor):
    """Cancel by publishing CANCELED; a2a-sdk then stops the running ``execute``."""

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id is None or context.context_id is None:
            return
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


class EchoExecutor(CancellableExecutor):
    """Echoes the input text back as an artifact, streaming its progress."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.executions = 0

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.executions += 1
        updater = await _updater(context, event_queue)
        text = context.get_user_input()
        await updater.start_work(updater.new_agent_message([Part(text="echoing")]))
        delay = self.delay
        meta = context.metadata or {}
        requested = meta.get("delay") if isinstance(meta, dict) else None
        if isinstance(requested, int | float) and not isinstance(requested, bool):
            delay = max(0.0, min(float(requested), _MAX_DELAY))
        if delay:
            await asyncio.sleep(delay)
        await updater.add_artifact([Part(text=text)], name="echo", last_chunk=True)
        await updater.complete()



class GreeterExecutor(CancellableExecutor):
    """Two turns: asks for a name, then greets it."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        first_turn = context.current_task is None
        updater = await _updater(context, event_queue)
        if first_turn:
            await updater.requires_input(updater.new_agent_message(
                [Part(text="What is your name?")]))
            return
        assert context.message is not None
        name = get_message_text(context.message).strip() or "stranger"
        await updater.add_artifact([Part(text=f"Hello, {name}!")], name="greeting")
        await updater.complete()



def echo_card(*, push: bool = False) -> AgentCard:
    return AgentCard(
        name="Echo", description="Echoes text back as an artifact, streaming progress.",
        version="1.0.0", capabilities=AgentCapabilities(streaming=True, push_notifications=push),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="Echo", description="Returns the input text.",
                           tags=["echo", "test"], examples=["hello"])])


def greeter_card() -> AgentCard:
    return AgentCard(
        name="Greeter", description="Asks for your name, then greets you (multi-turn).",
        version="1.0.0", capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[AgentSkill(id="greet", name="Greet", description="Greets a person by name.",
                           tags=["greeting", "multi-turn"])])
