"""Step 3: put an agent in a pool, so several processes share its work.

Every member is an ordinary agent (its own card, session and Last Will) that
also consumes the pool's topic. Clients address the pool like one agent,
``guide/examples/pool/shouters``, and each request goes to exactly one member.
Members share one task store, so any of them can answer for a task another
started (SQLite on one host, PostgreSQL on many).

For brevity this file starts three members in one process, then calls the pool;
in production each member is its own process or host.

    python examples/03_pool.py --broker URL
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from collections import Counter

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    Message,
    Part,
    Role,
    SendMessageRequest,
)

from a2a_mqtt import (
    A2AMqttClient,
    AgentConfig,
    AgentHost,
    AgentRef,
    ConnectionSettings,
    RequesterConfig,
)

POOL = "guide/examples/pool/shouters"


class MemberShout(AgentExecutor):
    """Step 1's agent, signing each answer with the member that did the work."""

    def __init__(self, member: str) -> None:
        self.member = member

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        current = context.current_task or new_task_from_user_message(context.message)
        if context.current_task is None:  # a new task: announce it before its updates
            await event_queue.enqueue_event(current)
        task = TaskUpdater(event_queue, current.id, current.context_id)
        await task.start_work()
        await asyncio.sleep(0.2)  # some work, so concurrent requests spread over members
        answer = f"{context.get_user_input().upper()} (from {self.member})"
        await task.add_artifact([Part(text=answer)], name="shout")
        await task.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.current_task is not None  # a2a-sdk loads the task to cancel
        task = context.current_task
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def card() -> AgentCard:
    return AgentCard(
        name="Shout pool", description="Repeats your text in capitals.", version="1.0.0",
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[AgentSkill(id="shout", name="Shout", description="Upper-cases text.",
                           tags=["shout-pool", "guide"])])


async def call(mqtt: A2AMqttClient, text: str) -> str:
    """One request to the pool; the answer's text."""
    entry = await mqtt.discovery.resolve(POOL, timeout=10)  # the pool's own card
    client = mqtt.client_for(entry, streaming=False)  # one reply: the finished task
    request = SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)]))
    async for event in client.send_message(request):
        return " ".join(p.text for a in event.task.artifacts for p in a.parts)
    raise RuntimeError("no reply")


async def main(broker: str, requests: int) -> None:
    pool, connection = AgentRef.parse(POOL), ConnectionSettings(url=broker)
    with tempfile.TemporaryDirectory() as tmp:
        members = [
            AgentConfig(ref=AgentRef(pool.org, pool.unit, f"member-{i}"), card=card(),
                        executor=MemberShout(f"member-{i}"), connection=connection,
                        pool=pool.name, task_store_url=f"sqlite:///{tmp}/tasks.db",
                        session_expiry=0)  # a demo: no session outlives the process
            for i in (1, 2, 3)]
        async with AgentHost(members):
            print(f"pool {POOL}: {len(members)} members on {broker}", flush=True)
            async with A2AMqttClient(RequesterConfig(connection=connection)) as mqtt:
                answers = await asyncio.gather(
                    *(call(mqtt, f"hello {n}") for n in range(1, requests + 1)))
            for answer in answers:
                print(answer)
            by_member = Counter(a.rsplit("(from ", 1)[1].rstrip(")") for a in answers)
            print("served by", ", ".join(f"{m}: {n}" for m, n in sorted(by_member.items())))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("A2A_MQTT_BROKER",
                                                           "mqtt://127.0.0.1:1883"))
    parser.add_argument("--requests", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.broker, args.requests))
