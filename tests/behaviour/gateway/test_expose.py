"""``gateway expose``: an HTTP agent served by a2a-sdk's own HTTP server, called over MQTT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from a2a.client.client import ClientCallContext
from a2a.server.agent_execution import RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import (
    AgentCard,
    AgentInterface,
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskRequest,
    ListTasksRequest,
    TaskState,
)
from starlette.applications import Starlette
from starlette.routing import Mount

from a2a_mqtt.binding.card import BINDING_URI, routing_ref
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.showcase import ShowcaseExecutor, showcase_card, showcase_extended_card
from a2a_mqtt.gateway.expose import ExposeHost
from a2a_mqtt.gateway.expose_config import ExposeConfig, ExposedAgent, load_expose_config
from tests.behaviour.conftest import text
from tests.behaviour.gateway.conftest import (
    asgi_server,
    gateway_card,
    message,
    open_gateway,
    stock_client,
)

pytestmark = pytest.mark.asyncio

ALL = ListTasksRequest(include_artifacts=True)


class RecordingShowcase(ShowcaseExecutor):
    """The showcase agent, remembering the HTTP headers each call arrived with."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.headers.append(dict(context.call_context.state.get("headers") or {}))
        await super().execute(context, event_queue)


@asynccontextmanager
async def http_agent(binding: str = "JSONRPC") -> AsyncIterator[
        tuple[str, RecordingShowcase, InMemoryTaskStore]]:
    """The showcase agent on a2a-sdk's own HTTP server (JSON-RPC at /, HTTP+JSON at /rest)."""
    executor, store = RecordingShowcase(), InMemoryTaskStore()
    holder: dict[str, str] = {}

    async def card_with_url(card: AgentCard) -> AgentCard:
        out = AgentCard()
        out.CopyFrom(card)
        url = holder["url"] if binding == "JSONRPC" else holder["url"] + "/rest"
        out.supported_interfaces.append(AgentInterface(
            url=url, protocol_binding=binding, protocol_version="1.0"))
        return out

    card = showcase_card()
    handler = DefaultRequestHandler(agent_executor=executor, task_store=store, agent_card=card,
                                    extended_agent_card=showcase_extended_card())
    app = Starlette(routes=[
        *create_agent_card_routes(card, card_modifier=card_with_url),
        *create_jsonrpc_routes(handler, "/"),
        Mount("/rest", routes=create_rest_routes(handler)),
    ])
    try:
        async with asgi_server(app) as url:
            holder["url"] = url
            yield url, executor, store
    finally:
        await handler.aclose()


@pytest.mark.parametrize("upstream", ["JSONRPC", "HTTP+JSON"])
async def test_http_agent_called_over_mqtt(broker: MosquittoProcess, client: A2AMqttClient,
                                          ref: AgentRef, upstream: str) -> None:
    async with http_agent(upstream) as (url, executor, store), ExposeHost(ExposeConfig(
            agents=(ExposedAgent(url=url, ref=ref, headers=(("Authorization", "Bearer static"),)),),
            connection=ConnectionSettings(url=broker.url), session_expiry=0)):
        entry = await client.discovery.resolve(ref, timeout=5.0)
        assert entry.online and entry.card is not None
        bindings = [i.protocol_binding for i in entry.card.supported_interfaces]
        assert bindings == [upstream, BINDING_URI]  # HTTP kept, MQTT added after it
        assert routing_ref(entry.card) == ref

        # Streaming, through the stock a2a-sdk Client over MQTT.
        a2a = await client.connect(ref)
        states = [TaskState.Name(e.status_update.status.state)
                  async for e in a2a.send_message(text("chunks 2"))
                  if e.HasField("status_update")]
        assert states == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
        assert executor.headers[-1]["authorization"] == "Bearer static"

        # Multi-turn: the continuation reaches the same upstream task.
        t = client.transport_for(ref)
        first = (await t.send_message(text("ask"))).task
        assert first.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        per_call = ClientCallContext(service_parameters={"Authorization": "Bearer caller"})
        second = (await t.send_message(text("Ada", task_id=first.id, context_id=first.context_id),
                                       context=per_call)).task
        assert second.id == first.id and second.status.state == TaskState.TASK_STATE_COMPLETED
        assert second.artifacts[-1].parts[0].text == "Hello, Ada!"
        assert executor.headers[-1]["authorization"] == "Bearer caller"
        upstream_tasks = await store.list(ALL, ServerCallContext())
        greeted = [u for u in upstream_tasks.tasks if u.artifacts
                   and u.artifacts[-1].parts[0].text == "Hello, Ada!"]
        assert len(greeted) == 1 and len(greeted[0].history) >= 2  # one task, two turns
        assert (await t.get_task(GetTaskRequest(id=first.id))).status.state == second.status.state

        # Cancel reaches the upstream task too.
        stream = t.send_message_streaming(text("slow 30"))
        slow = (await anext(stream)).task
        await anext(stream)  # WORKING
        canceled = await t.cancel_task(CancelTaskRequest(id=slow.id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        await stream.aclose()
        listed = await store.list(ALL, ServerCallContext())
        upstream_states = {u.status.state for u in listed.tasks}
        assert TaskState.TASK_STATE_CANCELED in upstream_states

        extended = await t.get_extended_agent_card(GetExtendedAgentCardRequest())
        assert "diagnostics" in [s.id for s in extended.skills]
    await client.requester.barrier()
    gone = client.discovery.get(ref)
    assert gone is not None and not gone.online  # a graceful stop marks it offline


async def test_both_ways_http_client_to_http_agent_through_mqtt(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    async with http_agent() as (url, _executor, _store), ExposeHost(ExposeConfig(
            agents=(ExposedAgent(url=url, ref=ref),), connection=ConnectionSettings(url=broker.url),
            session_expiry=0)), open_gateway(broker.url) as gw, httpx.AsyncClient() as http:
        card = await gateway_card(http, gw, ref)
        client = stock_client(http, card, "HTTP+JSON")
        events = [e async for e in client.send_message(message("parts"))]
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    names = {e.artifact_update.artifact.name for e in events if e.HasField("artifact_update")}
    assert names == {"text", "data", "url", "file"}


async def test_config_file_exposes_several_agents(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str, tmp_path: Path) -> None:
    one, two = AgentRef("acme", "lab", f"{unique_id}-1"), AgentRef("acme", "lab", f"{unique_id}-2")
    async with http_agent() as (url, _executor, _store):
        path = tmp_path / "expose.toml"
        path.write_text(f'broker = "{broker.url}"\n'
                        f'[[agents]]\nurl = "{url}"\nagent = "{one}"\n'
                        f'[[agents]]\nurl = "{url}"\nagent = "{two}"\n'
                        'headers = { X-Team = "blue" }\n')
        config = load_expose_config(path, session_expiry=0)
        assert [a.ref for a in config.agents] == [one, two]
        async with ExposeHost(config) as host:
            assert [s.config.ref for s in host.servers] == [one, two]
            for ref in (one, two):
                response = await client.transport_for(ref).send_message(text("hello"))
                assert response.task.status.state == TaskState.TASK_STATE_COMPLETED


async def test_unreachable_http_agent_is_a_clear_config_error(
        broker: MosquittoProcess, ref: AgentRef) -> None:
    with pytest.raises(ConfigError, match="fetching its card failed"):
        async with ExposeHost(ExposeConfig(
                agents=(ExposedAgent(url="http://127.0.0.1:9", ref=ref),),
                connection=ConnectionSettings(url=broker.url), http_timeout=2.0)):
            pass
