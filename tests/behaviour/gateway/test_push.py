"""Push notifications configured through the gateway reach an HTTP webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.types.a2a_pb2 import TaskPushNotificationConfig, TaskState
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.gateway import GatewayServer
from a2a_mqtt.server import AgentServer
from tests.behaviour.gateway.conftest import (
    asgi_server,
    gateway_card,
    message,
    stock_client,
    unary,
)

pytestmark = pytest.mark.asyncio


@asynccontextmanager
async def webhook() -> AsyncIterator[tuple[str, asyncio.Queue[tuple[dict[str, str], Any]]]]:
    """A real HTTP webhook on 127.0.0.1; yields its URL and the (headers, JSON) it receives."""
    received: asyncio.Queue[tuple[dict[str, str], Any]] = asyncio.Queue()

    async def hook(request: Request) -> Response:
        received.put_nowait((dict(request.headers), await request.json()))
        return Response(status_code=204)

    async with asgi_server(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        yield f"{url}/hook", received


async def _until_state(received: asyncio.Queue[tuple[dict[str, str], Any]],
                       state: str) -> list[tuple[dict[str, str], Any]]:
    got = []
    async with asyncio.timeout(10):
        while True:
            headers, body = await received.get()
            got.append((headers, body))
            status = (body.get("statusUpdate") or body.get("task") or {}).get("status", {})
            if status.get("state") == state:
                return got


async def test_push_config_created_through_the_gateway_notifies_the_webhook(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef, binding: str) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), binding,
                          streaming=False)
    async with webhook() as (url, received):
        task = await unary(client, message("ask"))
        assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        await client.create_task_push_notification_config(TaskPushNotificationConfig(
            task_id=task.id, id="hook", url=url, token="tok-1"))
        done = await unary(client, message("Ada", task_id=task.id))
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        got = await _until_state(received, "TASK_STATE_COMPLETED")
    headers, final = got[-1]
    assert headers["x-a2a-notification-token"] == "tok-1"
    assert final["statusUpdate"]["taskId"] == task.id
    assert any(b.get("artifactUpdate", {}).get("artifact", {}).get("parts", [{}])[0].get(
        "text") == "Hello, Ada!" for _, b in got)


async def test_push_config_in_send_message_configuration(
        http: httpx.AsyncClient, gateway: GatewayServer, showcase: AgentServer,
        ref: AgentRef) -> None:
    client = stock_client(http, await gateway_card(http, gateway, ref), "JSONRPC",
                          streaming=False)
    async with webhook() as (url, received):
        request = message("slow 0.2")
        request.configuration.return_immediately = True
        request.configuration.task_push_notification_config.CopyFrom(
            TaskPushNotificationConfig(url=url, token="tok-2"))
        task = await unary(client, request)
        assert task.status.state != TaskState.TASK_STATE_COMPLETED  # it returned at once
        got = await _until_state(received, "TASK_STATE_COMPLETED")
    assert {h["x-a2a-notification-token"] for h, _ in got} == {"tok-2"}
