"""Service parameters: HTTP headers reach the MQTT agent as its call context's headers."""

from __future__ import annotations

import httpx
import pytest
from a2a.client.client import ClientCallContext
from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    APIKeySecurityScheme,
    SecurityScheme,
    TaskState,
)
from a2a.utils.errors import ExtensionSupportRequiredError

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card
from a2a_mqtt.gateway import GatewayServer
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import (
    agent_url,
    gateway_card,
    message,
    open_gateway,
    stock_client,
)

pytestmark = pytest.mark.asyncio


class Recorder(AgentExecutor):
    """Completes at once, remembering the headers and extensions each call arrived with."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.extensions: list[set[str]] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.headers.append(dict(context.call_context.state.get("headers") or {}))
        self.extensions.append(set(context.requested_extensions))
        assert context.message is not None
        task = new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        await TaskUpdater(event_queue, task.id, task.context_id).complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to stop."""


def _card() -> AgentCard:
    card = AgentCard(name="Recorder", description="Records headers.", version="1.0.0",
                     capabilities=AgentCapabilities(streaming=True),
                     skills=[AgentSkill(id="r", name="r", description="r", tags=["t"])])
    card.security_schemes["key"].CopyFrom(SecurityScheme(
        api_key_security_scheme=APIKeySecurityScheme(location="header", name="Api-Key")))
    return card


async def test_authorization_extensions_and_custom_headers_are_forwarded(
        broker: MosquittoProcess, http: httpx.AsyncClient, ref: AgentRef,
        binding: str) -> None:
    recorder = Recorder()
    async with serve(broker.url, ref, recorder, _card()), open_gateway(
            broker.url, forward_headers=("Tenant-Hint",)) as gw:
        client = stock_client(http, await gateway_card(http, gw, ref), binding)
        context = ClientCallContext(service_parameters={
            "Authorization": "Bearer t0k3n", "A2A-Extensions": "urn:a,urn:b",
            "X-Custom": "v1", "Api-Key": "k-9", "Tenant-Hint": "blue",
            "Cookie": "session=secret", "X-Forwarded-For": "10.0.0.1", "Accept-Language": "fr"})
        _ = [e async for e in client.send_message(message("hi"), context=context)]
    headers = recorder.headers[-1]
    assert headers["authorization"] == "Bearer t0k3n"
    assert headers["a2a-extensions"] == "urn:a,urn:b"
    assert headers["a2a-version"] == "1.0"
    assert headers["x-custom"] == "v1"
    assert headers["api-key"] == "k-9"  # named by the card's API-key scheme
    assert headers["tenant-hint"] == "blue"  # forward_headers
    assert not {"cookie", "x-forwarded-for", "accept-language", "host"} & set(headers)
    assert recorder.extensions[-1] == {"urn:a", "urn:b"}


async def test_required_extension_must_be_declared(
        broker: MosquittoProcess, http: httpx.AsyncClient, gateway: GatewayServer,
        ref: AgentRef, binding: str) -> None:
    required = "urn:a2a:tck:required-extension"
    async with serve(broker.url, ref, ShowcaseExecutor(),
                     showcase_card(required_extension=required)):
        client = stock_client(http, await gateway_card(http, gateway, ref), binding)
        with pytest.raises(ExtensionSupportRequiredError):
            _ = [e async for e in client.send_message(message("hi"))]
        raw = await http.post(agent_url(gateway, ref), headers={"A2A-Version": "1.0"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
                "messageId": "m", "role": "ROLE_USER", "parts": [{"text": "x"}]}}})
        assert raw.json()["error"]["code"] == -32008
        declared = ClientCallContext(service_parameters={"A2A-Extensions": required})
        events = [e async for e in client.send_message(message("hi"), context=declared)]
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
