"""Agent A of the tracing tests, as its own process: its executor asks agent B over MQTT.

``python -m tests.behaviour.observability.caller_agent BROKER_URL REF CALLEE OTLP_URL``
"""

from __future__ import annotations

import sys

from a2a.server.agent_execution import RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import AgentCard, Part

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import CancellableExecutor, _updater, echo_card
from a2a_mqtt.observability.tracing import TracingConfig
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.service import run
from tests.behaviour.conftest import text


class CallerExecutor(CancellableExecutor):
    """Answers with what agent ``callee`` (an echo agent) answered to the same text."""

    def __init__(self, broker_url: str, callee: str) -> None:
        self.broker_url = broker_url
        self.callee = callee

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = await _updater(context, event_queue)
        async with A2AMqttClient(RequesterConfig(connection=ConnectionSettings(
                url=self.broker_url), reply_first_timeout=10)) as mqtt:
            client = await mqtt.connect(self.callee, streaming=False, timeout=10)
            answer = ""
            async for item in client.send_message(text(context.get_user_input())):
                task = item.task if item.HasField("task") else None
                if task is not None:
                    answer = "".join(p.text for a in task.artifacts for p in a.parts)
        await updater.add_artifact([Part(text=f"B said: {answer}")], name="relay",
                                   last_chunk=True)
        await updater.complete()


def _card() -> AgentCard:
    card = echo_card()
    card.name = "caller"
    return card


def main() -> None:
    broker_url, ref, callee, otlp = sys.argv[1:5]
    # Tracing through the config field: the agent sets it up as it starts.
    config = AgentConfig(ref=AgentRef.parse(ref), card=_card(),
                         executor=CallerExecutor(broker_url, callee),
                         connection=ConnectionSettings(url=broker_url), session_expiry=0,
                         tracing=TracingConfig(endpoint=otlp, service_name="agent-a"))
    run(config)


if __name__ == "__main__":
    main()
