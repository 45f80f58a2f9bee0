"""Step 2: find an agent by what it can do, and call it.

The client subscribes to the retained cards, picks an online agent with the
skill tag ``shout`` (no address needed), and calls it with the stock a2a-sdk
``Client``: the reply streams back as status and artifact events.

    python examples/01_agent.py --broker URL &        # step 1, in another terminal
    python examples/02_call.py --broker URL "hello, agents"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, StreamResponse, TaskState

from a2a_mqtt import A2AMqttClient, ConnectionSettings, RequesterConfig


def describe(event: StreamResponse) -> str:
    """One line per streamed event."""
    kind = event.WhichOneof("payload")
    if kind == "task":
        return f"task     {TaskState.Name(event.task.status.state)}"
    if kind == "status_update":
        status = event.status_update.status
        text = " ".join(p.text for p in status.message.parts)
        return f"status   {TaskState.Name(status.state)} {text}".rstrip()
    if kind == "artifact_update":
        artifact = event.artifact_update.artifact
        return f"artifact {artifact.name}: " + " ".join(p.text for p in artifact.parts)
    return f"message  {' '.join(p.text for p in event.message.parts)}"


async def main(broker: str, text: str) -> None:
    config = RequesterConfig(connection=ConnectionSettings(url=broker))
    async with A2AMqttClient(config) as mqtt:
        entry = await mqtt.discovery.find(tag="shout", timeout=10)  # waits for an online card
        print(f"found    {entry.ref} ({entry.name})")
        client = mqtt.client_for(entry)  # an a2a.client.Client speaking MQTT
        request = SendMessageRequest(message=Message(
            message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)]))
        async for event in client.send_message(request):
            print(describe(event))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("A2A_MQTT_BROKER",
                                                           "mqtt://127.0.0.1:1883"))
    parser.add_argument("text", nargs="?", default="hello, agents")
    args = parser.parse_args()
    asyncio.run(main(args.broker, args.text))
