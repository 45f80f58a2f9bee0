"""Step 1: write your own agent and serve it over MQTT.

An agent is an a2a-sdk ``AgentExecutor`` plus an ``AgentCard``; a2a-mqtt puts it
on the broker: it retains the card on the discovery topic (clients find it
there), answers requests on its own topic, and leaves a Last Will so a crash
marks it offline.

    a2a-mqtt broker                                   # prints the broker's URL
    python examples/01_agent.py --broker mqtt://127.0.0.1:PORT

Serves ``guide/examples/shout`` until Ctrl-C (or SIGTERM), then stops gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill, Part

from a2a_mqtt import AgentConfig, AgentHost, AgentRef, ConnectionSettings

AGENT = "guide/examples/shout"  # org/unit/agent: its topics and its MQTT Client ID


class ShoutExecutor(AgentExecutor):
    """Answers with the text in capitals, streaming WORKING, an artifact, COMPLETED."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        current = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:  # a new task: announce it before its updates
            await event_queue.enqueue_event(current)
        task = TaskUpdater(event_queue, current.id, current.context_id)
        await task.start_work(task.new_agent_message([Part(text="shouting")]))
        await task.add_artifact([Part(text=context.get_user_input().upper())], name="shout")
        await task.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.current_task is not None  # a2a-sdk loads the task to cancel
        task = context.current_task
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def shout_card() -> AgentCard:
    """What clients see before calling: a name, capabilities and skills with tags."""
    return AgentCard(
        name="Shout", description="Repeats your text in capitals.", version="1.0.0",
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[AgentSkill(id="shout", name="Shout", description="Upper-cases text.",
                           tags=["shout", "guide"], examples=["hello"])])


async def main(broker: str) -> None:
    config = AgentConfig(ref=AgentRef.parse(AGENT), card=shout_card(),
                         executor=ShoutExecutor(), connection=ConnectionSettings(url=broker))
    # serve(): connect, retain the card, run until SIGINT/SIGTERM, stop gracefully (the
    # card then says offline). on_ready runs once clients can find the agent.
    await AgentHost([config]).serve(
        on_ready=lambda: print(f"serving {AGENT} on {broker} (Ctrl-C to stop)", flush=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("A2A_MQTT_BROKER",
                                                           "mqtt://127.0.0.1:1883"))
    asyncio.run(main(parser.parse_args().broker))
