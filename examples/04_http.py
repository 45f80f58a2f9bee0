"""Step 4: expose MQTT agents over HTTP, through the gateway.

The gateway serves every agent it discovers on the broker as a standard HTTP
A2A agent: its card at ``/{org}/{unit}/{agent}/.well-known/agent-card.json``,
JSON-RPC at ``/{org}/{unit}/{agent}``, HTTP+JSON under ``.../rest`` (SSE for
streams). Stock HTTP clients, a2a-sdk's or curl (docs/gateway.md), call MQTT
agents unchanged. Here a2a-sdk's HTTP client calls step 1's agent.

    python examples/01_agent.py --broker URL &        # step 1
    python examples/04_http.py --broker URL           # one call over HTTP, then exit
    python examples/04_http.py --broker URL --serve   # then keep serving, for curl
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import uuid

import httpx
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import A2ACardResolver
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState

from a2a_mqtt import ConnectionSettings, GatewayConfig, GatewayServer

AGENT = "guide/examples/shout"  # step 1's agent


async def main(broker: str, port: int, serve: bool) -> None:
    config = GatewayConfig(connection=ConnectionSettings(url=broker), port=port)
    async with GatewayServer(config) as gateway:
        url = f"{gateway.url}/{AGENT}"
        print(f"gateway  {gateway.url} (agents on {broker})", flush=True)
        async with httpx.AsyncClient(timeout=30) as http:
            card = await A2ACardResolver(http, url).get_agent_card()  # the rewritten card
            for interface in card.supported_interfaces:
                print(f"card     {interface.protocol_binding:<9} {interface.url}")
            # a2a-sdk picks the card's first interface it speaks: JSON-RPC over HTTP.
            client = ClientFactory(ClientConfig(httpx_client=http)).create(card)
            request = SendMessageRequest(message=Message(
                message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                parts=[Part(text="hello over http")]))
            async for event in client.send_message(request):
                if event.HasField("artifact_update"):
                    parts = event.artifact_update.artifact.parts
                    print("artifact", " ".join(p.text for p in parts))
                elif event.HasField("status_update"):
                    print("status  ", TaskState.Name(event.status_update.status.state))
        if serve:
            print(f"serving until Ctrl-C; try: curl {url}/.well-known/agent-card.json",
                  flush=True)
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default=os.environ.get("A2A_MQTT_BROKER",
                                                           "mqtt://127.0.0.1:1883"))
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--serve", action="store_true", help="keep serving after the call")
    args = parser.parse_args()
    asyncio.run(main(args.broker, args.port, args.serve))
