"""Known traffic in, exact counts out: real agent host, real gateway, real scrapes over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from a2a.utils.errors import TaskNotFoundError

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.gateway import GatewayConfig, GatewayServer
from a2a_mqtt.observability.config import ObservabilityConfig
from a2a_mqtt.observability.metrics import Metrics
from a2a_mqtt.server import AgentConfig
from a2a_mqtt.server.host import AgentHost
from tests.behaviour.conftest import requester_config
from tests.behaviour.gateway.conftest import known
from tests.behaviour.observability.scrape import parse, scrape, settled

pytestmark = pytest.mark.asyncio

V1 = {"A2A-Version": "1.0"}
OK = {"a2a_outcome": "ok", "rpc_jsonrpc_error_code": ""}


def _message(text: str, *, task_id: str = "", message_id: str = "") -> dict[str, Any]:
    msg: dict[str, Any] = {"messageId": message_id or str(uuid.uuid4()), "role": "ROLE_USER",
                           "parts": [{"text": text}]}
    if task_id:
        msg["taskId"] = task_id
    return msg


def _rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}


async def test_counts_and_histograms_are_exact(broker: MosquittoProcess, ref: AgentRef) -> None:
    client_metrics = Metrics(service="test-client")
    config = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), session_expiry=0)
    async with (AgentHost([config], observability=ObservabilityConfig(http_port=0)) as host,
                GatewayServer(GatewayConfig(connection=ConnectionSettings(url=broker.url),
                                            port=0, reply_timeout=5.0,
                                            stream_idle_timeout=10.0,
                                            shutdown_grace=1.0)) as gw,
                A2AMqttClient(requester_config(broker.url), metrics=client_metrics) as direct,
                httpx.AsyncClient(timeout=20.0) as http):
        await known(gw, ref)
        url = f"{gw.url}/{ref}"
        # Through the gateway: 3 unary successes, 2 unknown tasks, 2 streams.
        for i in range(3):
            r = await http.post(url, json=_rpc("SendMessage", {"message": _message(f"a{i}")}),
                                headers=V1)
            assert "result" in r.json(), r.text
        for _ in range(2):
            r = await http.post(url, json=_rpc("GetTask", {"id": str(uuid.uuid4())}),
                                headers=V1)
            assert r.json()["error"]["code"] == -32001
        for i in range(2):
            async with http.stream("POST", url, headers=V1, json=_rpc(
                    "SendStreamingMessage", {"message": _message(f"s{i}")})) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                body = "".join([line async for line in r.aiter_lines()])
            assert "TASK_STATE_COMPLETED" in body

        # Directly over MQTT: 2 successes, 1 duplicate (dedup), 1 unknown task, 1 cancel.
        rq = direct.requester
        task_id = str(uuid.uuid4())
        first = _message("d0", task_id=task_id)
        await rq.call(ref, "SendMessage", {"message": first})
        await rq.call(ref, "SendMessage", {"message": _message("d1", task_id=str(uuid.uuid4()))})
        await rq.call(ref, "SendMessage", {"message": first})  # the same turn again
        with pytest.raises(TaskNotFoundError):
            await rq.call(ref, "GetTask", {"id": str(uuid.uuid4())})
        slow = str(uuid.uuid4())
        states: list[str] = []
        stream = rq.stream(ref, "SendStreamingMessage", {
            "message": _message("slow", task_id=slow), "metadata": {"delay": 30}})
        async for reply in stream:
            state = (reply.result.get("statusUpdate") or reply.result.get("task") or {}).get(
                "status", {}).get("state", "")
            states.append(state)
            if state == "TASK_STATE_WORKING":
                await rq.call(ref, "CancelTask", {"id": slow})
        assert states[-1] == "TASK_STATE_CANCELED"

        # The last reply's PUBACK (and what waits on it) can reach the agent after the
        # reply reached us.
        agent = await settled(http, host.metrics_url, lambda found: all(
            found.value(name, **labels) == 0 for name, labels in (
                ("messaging_client_queue_depth", {}),
                ("rpc_server_active_requests", {"a2a_agent": str(ref)}),
                ("a2a_mqtt_server_open_streams", {"a2a_agent": str(ref)}))))
        gateway = await scrape(http, gw.url)

    name = "rpc_server_requests_total"
    a = str(ref)
    assert agent.value(name, a2a_agent=a, rpc_method="SendMessage", **OK) == 6
    assert agent.value(name, a2a_agent=a, rpc_method="SendStreamingMessage", **OK) == 3
    assert agent.value(name, a2a_agent=a, rpc_method="CancelTask", **OK) == 1
    assert agent.value(name, a2a_agent=a, rpc_method="GetTask", a2a_outcome="error",
                       rpc_jsonrpc_error_code="-32001") == 3
    assert agent.value(name, a2a_agent=a) == 13  # nothing else was counted
    dur = "rpc_server_call_duration_seconds_count"
    assert agent.value(dur, a2a_agent=a, rpc_method="SendMessage", a2a_outcome="ok") == 6
    assert agent.value(dur, a2a_agent=a, rpc_method="GetTask", a2a_outcome="error") == 3
    assert agent.value(dur, a2a_agent=a) == 13
    # First replies are timed for streams only: 2 through the gateway, 1 direct.
    assert agent.value("rpc_server_first_reply_duration_seconds_count", a2a_agent=a) == 3
    assert agent.value("rpc_server_active_requests", a2a_agent=a) == 0
    assert agent.value("a2a_mqtt_server_open_streams", a2a_agent=a) == 0
    assert agent.value("a2a_mqtt_server_dedup_hits_total", a2a_agent=a) == 1
    assert agent.value("a2a_mqtt_server_tasks_total", a2a_agent=a, a2a_task_state="canceled") == 1
    # 5 unary turns answered completed + 2 streams that ended completed (the duplicate
    # was answered from the store, not run: it publishes no new state).
    assert agent.value("a2a_mqtt_server_tasks_total", a2a_agent=a,
                       a2a_task_state="completed") == 7
    assert agent.value("a2a_mqtt_server_slot_wait_duration_seconds_count", a2a_agent=a) == 13
    assert agent.value("rpc_server_request_size_bytes_total", a2a_agent=a) > 0
    assert agent.value("rpc_server_response_size_bytes_total", a2a_agent=a) > 0
    assert agent.value("a2a_mqtt_ready", a2a_service="agent") == 1
    # Transport: every reply was a QoS 1 publish timed to its PUBACK; none is pending.
    assert agent.value("messaging_client_connects_total") == 1
    assert agent.value("messaging_client_reconnects_total") == 0
    assert agent.value("messaging_publish_duration_seconds_count") >= 13
    assert agent.value("messaging_client_queue_depth") == 0
    assert agent.value("messaging_client_messages_total", messaging_direction="in") >= 13

    http_name = "http_server_requests_total"
    assert gateway.value(http_name, a2a_service="gateway", http_route="/{agent}/",
                         http_request_method="POST", http_response_status_code="200") == 7
    assert gateway.value("http_server_request_duration_seconds_count",
                         http_route="/{agent}/") == 7
    assert gateway.value("a2a_mqtt_http_open_streams", http_route="/{agent}/") == 0
    assert gateway.value("a2a_mqtt_gateway_agents") == 1
    calls = "rpc_client_requests_total"
    assert gateway.value(calls, rpc_method="SendMessage", **OK) == 3
    assert gateway.value(calls, rpc_method="SendStreamingMessage", **OK) == 2
    assert gateway.value(calls, rpc_method="GetTask", a2a_outcome="error",
                         rpc_jsonrpc_error_code="-32001") == 2
    assert gateway.value("rpc_client_call_duration_seconds_count") == 7
    assert gateway.value("a2a_mqtt_ready", a2a_service="gateway") == 1

    client = parse(client_metrics.render()[0].decode())
    assert client.value(calls, rpc_method="SendMessage", **OK) == 3
    assert client.value(calls, rpc_method="SendStreamingMessage", **OK) == 1
    assert client.value(calls, rpc_method="CancelTask", **OK) == 1
    assert client.value(calls, rpc_method="GetTask", a2a_outcome="error",
                        rpc_jsonrpc_error_code="-32001") == 1
    assert client.value("a2a_mqtt_client_timeouts_total") == 0
    assert client.value("a2a_mqtt_client_retries_total") == 0
