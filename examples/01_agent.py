"""Step 1: write your own agent and serve it over MQTT.

An agent is an a2a-sdk ``AgentExecutor`` plus an ``AgentCard``; a2a-mqtt puts it
on the broker: it retains the card on the discovery topic (clients find it
there), answers requests on its own topic, and leaves a Last Will so a crash
marks it offline.

    a2a-mqtt broker                                   # prints the broker's URL
    python examples/01_agent.py --broker mqtt://127.0.0.1:PORT

Serves ``guide/examples/shout`` until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

# a2a_mqtt before a2a-sdk: importing it first keeps a2a-sdk's per-call tracing spans
# off; on, they double the CPU an agent spends per request (docs/performance.md).
from a2a_mqtt.binding import AgentRef
from a2a_mqtt.server import AgentConfig, AgentHost

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentSkill, Part

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
                         executor=ShoutExecutor(), broker_url=broker)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with AgentHost([config]):  # connected, card retained: clients can find it now
        print(f"serving {AGENT} on {broker} (Ctrl-C to stop)", flush=True)
        await stop.wait()
    # Leaving the block stopped it gracefully: its card now says offline.


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("A2A_MQTT_BROKER",
                                                           "mqtt://127.0.0.1:1883"))
    asyncio.run(main(parser.parse_args().broker))
