"""Whole traces across processes: HTTP client -> gateway -> agent A -> agent B, and expose.

Every service is its own process (the CLI, or the small launcher for agent A),
exporting over OTLP/HTTP to a real receiver run by the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import AgentCard, AgentInterface
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.conftest import text
from tests.behaviour.gateway.conftest import asgi_server
from tests.behaviour.observability.otlp import Received, otlp_receiver

pytestmark = pytest.mark.asyncio

_CLI = [sys.executable, "-m", "a2a_mqtt"]
_ENV = {**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "50", "PYTHONUNBUFFERED": "1"}
_CALLER_TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@asynccontextmanager
async def process(*args: str, ready: bytes | None = None,
                  env: dict[str, str] | None = None) -> AsyncIterator[str]:
    """A service process, stopped by SIGINT on exit; with ``ready``, yields (the line)
    once a stdout line contains it."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**_ENV, **(env or {})})
    line = b""
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while ready is not None and ready not in line:
                line = await proc.stdout.readline()
                assert line, f"{args} exited before it was ready"
        yield line.decode().strip()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(15):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


def one(spans: list[Received], service: str, name: str) -> Received:
    found = [s for s in spans if s.service == service and s.name == name]
    assert len(found) == 1, (service, name, found)
    return found[0]


@asynccontextmanager
async def three_processes(broker: MosquittoProcess, client: A2AMqttClient, otlp: str,
                          a: AgentRef, b: AgentRef) -> AsyncIterator[str]:
    """Agent B (``a2a-mqtt example echo``), agent A (the launcher) and the gateway (CLI),
    each exporting to ``otlp``; yields the gateway's URL."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(process(
            *_CLI, "example", "echo", "--agent", str(b), "--broker", broker.url,
            "--otlp-endpoint", otlp))
        await stack.enter_async_context(process(
            sys.executable, "-m", "tests.behaviour.observability.caller_agent", broker.url,
            str(a), str(b), otlp + "/v1/traces"))
        await client.discovery.resolve(b, timeout=30)
        await client.discovery.resolve(a, timeout=30)
        url = await stack.enter_async_context(process(
            *_CLI, "gateway", "serve", "--port", "0", "--broker", broker.url,
            "--otlp-endpoint", otlp, ready=b"http://"))
        yield url


async def ask(gateway: str, a: AgentRef, headers: dict[str, str],
              method: str = "SendMessage") -> str:
    """``method`` to agent A through the gateway (retried while the gateway has not
    read A's retained card yet: a 404 from another process, nothing to await); the
    response body (JSON, or the SSE stream of a streaming method)."""
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(100):
            r = await http.post(f"{gateway}/{a}", headers={"A2A-Version": "1.0", **headers},
                                json={"jsonrpc": "2.0", "id": 1, "method": method,
                                      "params": {"message": {
                                          "messageId": "m-1", "role": "ROLE_USER",
                                          "parts": [{"text": "ping"}]}}})
            if r.status_code != 404:
                break
            await asyncio.sleep(0.05)
        return r.text


def whole(spans: list[Received]) -> bool:
    return sum(s.name == "a2a/execute" for s in spans) >= 2 and len(spans) >= 7


def check_chain(spans: list[Received], a: AgentRef, b: AgentRef,
                method: str = "SendMessage") -> list[Received]:
    """The seven spans of one request, one trace, each the child of the one before
    (agent A's SERVER span has its execute span as the parent of its call to B)."""
    gw_http = one(spans, "a2a-mqtt-gateway", f"POST /{a}")
    gw_call = one(spans, "a2a-mqtt-gateway", f"a2a/{method}")
    a_server = [s for s in spans if s.service == "agent-a" and s.kind == "server"]
    a_exec = one(spans, "agent-a", "a2a/execute")
    a_call = [s for s in spans if s.service == "agent-a" and s.kind == "client"]
    b_server = [s for s in spans if s.service == str(b) and s.kind == "server"]
    b_exec = one(spans, str(b), "a2a/execute")
    assert len(a_server) == len(a_call) == len(b_server) == 1, spans
    chain = [gw_http, gw_call, a_server[0], a_exec, a_call[0], b_server[0], b_exec]
    assert [s.kind for s in chain] == ["server", "client", "server", "internal", "client",
                                       "server", "internal"]
    assert len({s.trace_id for s in spans}) == 1
    for parent, child in itertools.pairwise(chain):
        assert child.parent_id == parent.span_id, (parent, child)
    assert len(spans) == 7
    assert a_server[0].name == f"a2a/{method}"
    assert b_server[0].name == "a2a/SendMessage"  # A's executor calls B unary
    assert gw_call.attributes["rpc.system"] == "a2a"
    assert gw_call.attributes["messaging.system"] == "mqtt"
    assert gw_call.attributes["messaging.destination.name"] == f"$a2a/v1/request/{a}"
    assert a_call[0].attributes["messaging.destination.name"] == f"$a2a/v1/request/{b}"
    assert b_server[0].attributes["rpc.method"] == "SendMessage"
    return chain


async def test_one_trace_across_gateway_and_two_agents(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str) -> None:
    a, b = AgentRef("t", unique_id, "a"), AgentRef("t", unique_id, "b")
    async with otlp_receiver() as (otlp, collector), \
            three_processes(broker, client, otlp, a, b) as gateway:
        answer = json.loads(await ask(gateway, a, {"traceparent": _CALLER_TP,
                                                   "tracestate": "k=v"}))
        artifacts = answer["result"]["task"]["artifacts"]
        assert artifacts[0]["parts"][0]["text"] == "B said: ping"
        spans = await collector.wait_for(whole)
    chain = check_chain(spans, a, b)
    assert chain[0].trace_id == _CALLER_TP[3:35]  # the HTTP caller's trace continues
    assert chain[0].parent_id == _CALLER_TP[36:52]


async def test_without_traceparent_the_gateway_starts_the_trace(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str) -> None:
    a, b = AgentRef("t", unique_id, "a"), AgentRef("t", unique_id, "b")
    async with otlp_receiver() as (otlp, collector), \
            three_processes(broker, client, otlp, a, b) as gateway:
        answer = json.loads(await ask(gateway, a, {"traceparent": "00-garbage-01"}))
        assert answer["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        spans = await collector.wait_for(whole)
    chain = check_chain(spans, a, b)
    assert chain[0].parent_id == ""  # a new root at the gateway
    assert chain[0].trace_id != _CALLER_TP[3:35]


async def test_a_streamed_request_is_one_trace_too(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str) -> None:
    """SSE through the gateway: a2a-sdk streams from another task; the trace holds."""
    a, b = AgentRef("t", unique_id, "a"), AgentRef("t", unique_id, "b")
    async with otlp_receiver() as (otlp, collector), \
            three_processes(broker, client, otlp, a, b) as gateway:
        stream = await ask(gateway, a, {"traceparent": _CALLER_TP}, "SendStreamingMessage")
        assert "B said: ping" in stream
        spans = await collector.wait_for(whole)
    chain = check_chain(spans, a, b, "SendStreamingMessage")
    assert chain[0].trace_id == _CALLER_TP[3:35]


@asynccontextmanager
async def upstream_agent() -> AsyncIterator[tuple[str, list[dict[bytes, bytes]]]]:
    """An HTTP A2A echo agent (a2a-sdk's own server) that keeps each request's headers."""
    seen: list[dict[bytes, bytes]] = []
    holder: dict[str, str] = {}

    async def card_with_url(card: AgentCard) -> AgentCard:
        out = AgentCard()
        out.CopyFrom(card)
        out.supported_interfaces.append(AgentInterface(
            url=holder["url"], protocol_binding="JSONRPC", protocol_version="1.0"))
        return out

    card = echo_card()
    handler = DefaultRequestHandler(agent_executor=EchoExecutor(),
                                    task_store=InMemoryTaskStore(), agent_card=card)
    inner = Starlette(routes=[*create_agent_card_routes(card, card_modifier=card_with_url),
                              *create_jsonrpc_routes(handler, "/")])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            seen.append(dict(scope["headers"]))
        await inner(scope, receive, send)

    try:
        async with asgi_server(app) as url:
            holder["url"] = url
            yield url, seen
    finally:
        await handler.aclose()


async def test_expose_carries_the_trace_on_to_the_http_agent(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str) -> None:
    ref = AgentRef("t", unique_id, "exposed")
    async with otlp_receiver() as (otlp, collector), upstream_agent() as (url, seen):
        async with process(*_CLI, "gateway", "expose", url, "--agent", str(ref),
                           "--broker", broker.url, "--otlp-endpoint", otlp):
            await client.discovery.resolve(ref, timeout=30)
            agent = await client.connect(ref, streaming=False)
            async for _ in agent.send_message(text("over http")):
                pass
            spans = await collector.wait_for(
                lambda got: any(s.name == "a2a/execute" for s in got) and len(got) >= 3)
    assert len(spans) == 3
    assert {s.service for s in spans} == {"a2a-mqtt-expose"}
    server = [s for s in spans if s.kind == "server"]
    execute = one(spans, "a2a-mqtt-expose", "a2a/execute")
    http_call = [s for s in spans if s.kind == "client"]
    assert len(http_call) == len(server) == 1
    server = server[0]
    assert server.name == "a2a/SendMessage"
    assert server.parent_id == ""  # this test's requester does not trace: a new root
    assert execute.parent_id == server.span_id
    assert http_call[0].parent_id == execute.span_id
    assert http_call[0].attributes["rpc.method"] == "SendMessage"
    assert len({s.trace_id for s in spans}) == 1
    sent = [h[b"traceparent"].decode() for h in seen if b"traceparent" in h]
    assert len(sent) == 1
    assert sent[0][:52] == f"00-{server.trace_id}-{http_call[0].span_id}"
    assert int(sent[0][53:], 16) & 1  # sampled


async def test_a2a_sdk_spans_when_asked_for_join_the_same_trace(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str) -> None:
    ref = AgentRef("t", unique_id, "sdk")
    async with otlp_receiver() as (otlp, collector):
        async with process(*_CLI, "example", "echo", "--agent", str(ref), "--broker",
                           broker.url, "--otlp-endpoint", otlp,
                           env={"OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "true"}):
            await client.discovery.resolve(ref, timeout=30)
            agent = await client.connect(ref, streaming=False)
            async for _ in agent.send_message(text("hello")):
                pass
            spans = await collector.wait_for(
                lambda got: any(s.name == "a2a/execute" for s in got)
                and any(s.kind == "server" and s.scope == "a2a_mqtt" for s in got)
                and any(s.scope != "a2a_mqtt" for s in got)
                # every parent received (the batches of one request may come apart)
                and {s.parent_id for s in got} - {"", *(s.span_id for s in got)} == set())
    ours = [s for s in spans if s.scope == "a2a_mqtt"]
    sdk = [s for s in spans if s.scope != "a2a_mqtt"]
    assert sdk, spans
    assert len({s.trace_id for s in spans}) == 1
    server = [s for s in ours if s.kind == "server"]
    assert len(server) == 1 and server[0].parent_id == ""
    by_id = {s.span_id: s for s in spans}

    def ancestors(span: Received) -> list[str]:
        chain = []
        while span.parent_id:
            span = by_id[span.parent_id]
            chain.append(span.span_id)
        return chain

    # Every span, a2a-sdk's included, hangs below our SERVER span of the request.
    for s in spans:
        if s is not server[0]:
            assert server[0].span_id in ancestors(s), s
