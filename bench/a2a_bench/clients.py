"""The client side of every variant (this process): one SendMessage per request()."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from typing import Any

from a2a_bench.settings import (
    ORG,
    REQUEST_TIMEOUT,
    UNIT,
)
from a2a_mqtt.connection import ConnectionSettings
from harness.agent import BENCH_TEXT, bench_card


def floor_payload() -> bytes:
    """A SendMessage JSON-RPC request the size of ours, for the raw MQTT floor."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": uuid.uuid4().hex,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": uuid.uuid4().hex,
                    "role": "ROLE_USER",
                    "parts": [{"text": BENCH_TEXT}],
                    "taskId": str(uuid.uuid4()),
                    "contextId": str(uuid.uuid4()),
                }
            },
        }
    ).encode()


# ===================================================================================
# Client side (this process)
# ===================================================================================


class Client:
    """One variant's client: ``request()`` does one SendMessage and checks the answer."""

    async def start(self) -> None: ...

    async def request(self) -> None: ...

    async def stop(self) -> None: ...


def new_send_request() -> Any:
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

    return SendMessageRequest(
        message=Message(
            message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=BENCH_TEXT)]
        )
    )


def _check_task(response: Any) -> None:
    from a2a.types.a2a_pb2 import TaskState

    task = response.task
    if task.status.state != TaskState.TASK_STATE_COMPLETED:
        raise RuntimeError(f"task not completed: {task.status.state}")
    if not task.artifacts or task.artifacts[0].parts[0].text != BENCH_TEXT:
        raise RuntimeError("artifact missing or wrong")


class OursClient(Client):
    def __init__(self, broker: str, agent: str) -> None:
        self.broker, self.agent = broker, agent

    async def start(self) -> None:
        from a2a_mqtt.client import A2AMqttClient, RequesterConfig

        self._client = A2AMqttClient(
            RequesterConfig(connection=ConnectionSettings(url=self.broker)), discover=False
        )
        await self._client.__aenter__()
        self._transport = self._client.transport_for(f"{ORG}/{UNIT}/{self.agent}")

    async def request(self) -> None:
        _check_task(await self._transport.send_message(new_send_request()))

    async def stop(self) -> None:
        await self._client.__aexit__(None, None, None)


class HttpClient(Client):
    """a2a-sdk's own JSON-RPC ClientTransport over httpx."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"

    async def start(self) -> None:
        import httpx
        from a2a.client.transports.jsonrpc import JsonRpcTransport
        from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, VERSION_HEADER

        # Pool sized for 100 in flight (httpx's default keeps only 20 alive).
        self._http = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT,
            headers={VERSION_HEADER: PROTOCOL_VERSION_CURRENT},
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
        self._transport = JsonRpcTransport(self._http, bench_card(self.url), self.url)

    async def request(self) -> None:
        _check_task(await self._transport.send_message(new_send_request()))

    async def stop(self) -> None:
        await self._http.aclose()


class HttpAiohttpClient(Client):
    """The same JSON-RPC SendMessage to the same server, sent with aiohttp."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"

    async def start(self) -> None:
        import aiohttp
        from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, VERSION_HEADER

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200),
            headers={VERSION_HEADER: PROTOCOL_VERSION_CURRENT, "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )

    async def request(self) -> None:
        from a2a.types.a2a_pb2 import SendMessageResponse
        from a2a.utils.proto_utils import parse_lenient
        from google.protobuf.json_format import MessageToDict

        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": uuid.uuid4().hex,
                "method": "SendMessage",
                "params": MessageToDict(new_send_request()),
            }
        )
        async with self._session.post(self.url, data=body) as resp:
            data = json.loads(await resp.read())
        if "result" not in data:
            raise RuntimeError(f"error reply: {data.get('error')}")
        _check_task(parse_lenient(data["result"], SendMessageResponse()))

    async def stop(self) -> None:
        await self._session.close()


class EmqxClient(Client):
    """The EMQX SDK's Requester, as shipped (one MQTT connection per stream())."""

    def __init__(self, broker: str, agent: str) -> None:
        self.broker, self.agent = broker, agent

    async def start(self) -> None:
        from a2a_over_mqtt import MqttConfig, Requester, TopicSpace

        from a2a_mqtt.transport import BrokerURL

        url = BrokerURL.parse(self.broker)
        self._requester = Requester(
            MqttConfig(host=url.host, port=url.port),
            TopicSpace(org=ORG, unit=UNIT),
            requester_id="bench-client",
        )

    async def request(self) -> None:
        from a2a_over_mqtt import REPLY_ARTIFACT, REPLY_TERMINAL, A2ARequest

        payload = A2ARequest(text=BENCH_TEXT, request_id=uuid.uuid4().hex).to_json()
        artifact = terminal = False
        async for kind, content in self._requester.stream(
            self.agent, payload, uuid.uuid4().hex[:16]
        ):
            if kind == REPLY_ARTIFACT:
                artifact = content == BENCH_TEXT
            elif kind == REPLY_TERMINAL:
                terminal = True
        if not (artifact and terminal):
            raise RuntimeError("EMQX stream ended without the artifact and completion")

    async def stop(self) -> None:
        pass


class FloorClient(Client):
    """Raw QoS 1 request/reply on our transport; no A2A encoding or handling."""

    def __init__(self, broker: str, agent: str) -> None:
        self.broker, self.agent = broker, agent
        self.payload = floor_payload()

    async def start(self) -> None:
        from a2a_mqtt.transport import (
            BrokerURL,
            ConnectOptions,
            IncomingMessage,
            Subscription,
            create_transport,
        )

        self._req_topic = f"bench/floor/{self.agent}/req"
        self._reply_topic = f"bench/floor/{self.agent}/reply"
        self._pending: dict[bytes, asyncio.Future[None]] = {}
        self._counter = itertools.count()
        self._transport = create_transport(
            ConnectOptions(
                url=BrokerURL.parse(self.broker), client_id=f"bench-floor-req-{self.agent}"
            )
        )

        def on_reply(msg: IncomingMessage) -> None:
            fut = self._pending.pop(msg.properties.correlation_data or b"", None)
            if fut is not None and not fut.done():
                fut.set_result(None)

        await self._transport.subscribe(Subscription(self._reply_topic, qos=1), on_reply)
        await self._transport.connect()

    async def request(self) -> None:
        from a2a_mqtt.transport import PublishProperties

        corr = next(self._counter).to_bytes(8, "big")
        fut = asyncio.get_running_loop().create_future()
        self._pending[corr] = fut
        props = PublishProperties(response_topic=self._reply_topic, correlation_data=corr)
        try:
            await self._transport.publish(self._req_topic, self.payload, qos=1, properties=props)
            await fut
        finally:
            self._pending.pop(corr, None)

    async def stop(self) -> None:
        await self._transport.disconnect()
