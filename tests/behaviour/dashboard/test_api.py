"""The dashboard's HTTP API against a real broker, registry and agents: bad input gets
a clear 4xx and the service keeps serving; streams clean up after their readers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.dashboard import DashboardConfig, DashboardServer
from a2a_mqtt.dashboard.auth import hash_password
from tests.behaviour.dashboard.conftest import Fleet

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def http(fleet: Fleet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fleet.url, timeout=20.0) as client:
        yield client


async def until(check: Any, timeout: float = 10.0) -> None:
    """Poll an HTTP-visible condition with a deadline (the server offers no push for it)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def items(resp: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) async for line in resp.aiter_lines() if line.strip()]


async def test_oversized_upload_is_413_with_a_clear_message(
        fleet: Fleet, http: httpx.AsyncClient) -> None:
    ref = await fleet.agent("echo")
    limit = fleet.dashboard.config.max_upload_bytes
    big = json.dumps({"text": "x" * (limit + 1)})
    resp = await http.post(f"/api/send?agent={ref}", content=big,
                           headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["error"] == "too_large"
    assert str(limit) in resp.json()["message"]
    # Chunked (no Content-Length): refused as it streams past the limit.

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
    resp = await http.post(f"/api/send?agent={ref}", content=chunks())
    assert resp.status_code == 413
    async with http.stream("POST", f"/api/send?agent={ref}", json={"text": "still here"}) as r:
        got = await items(r)
    assert got[-1] == {"kind": "end"}


async def test_malformed_and_unknown_agent_references(http: httpx.AsyncClient) -> None:
    resp = await http.get("/api/agents/not-a-ref")
    assert resp.status_code == 400 and "org/unit/agent" in resp.json()["message"]
    resp = await http.get("/api/agents/org/unit/nobody")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    resp = await http.post("/api/send?agent=a/b/c/d/e", json={"text": "x"})
    assert resp.status_code == 400
    resp = await http.post("/api/send", json={"text": "x"})
    assert resp.status_code == 400 and "name an agent" in resp.json()["message"]
    resp = await http.post("/api/send?agent=org/unit/x", content=b"{not json")
    assert resp.status_code == 400 and "not JSON" in resp.json()["message"]


async def test_an_sse_reader_that_leaves_is_cleaned_up(
        fleet: Fleet, http: httpx.AsyncClient) -> None:
    async def browsers() -> int:
        return int((await http.get("/health")).json()["browsers"])
    async with httpx.AsyncClient(base_url=fleet.url, timeout=None) as other:
        async with other.stream("GET", "/api/events") as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            assert await browsers() == 1
            ref = await fleet.agent("echo", "sse")
            while True:  # the agent's arrival comes through
                line = await anext(lines)
                if line.startswith("data:") and str(ref) in line:
                    break

    async def gone() -> bool:
        return await browsers() == 0
    await until(gone)
    assert (await http.get("/api/fleet")).status_code == 200


async def test_an_agent_that_vanishes_mid_chat_ends_the_call_clearly(
        fleet: Fleet, http: httpx.AsyncClient) -> None:
    ref, proc = fleet.process_agent("echo", "vanishing")

    async def online() -> bool:
        resp = await http.get(f"/api/agents/{ref}")
        return resp.status_code == 200 and resp.json()["entry"]["status"] == "online"
    await until(online, 20.0)
    async with http.stream("POST", f"/api/send?agent={ref}",
                           json={"text": "wait", "metadata": {"delay": 30}}) as resp:
        seen: list[dict[str, Any]] = []
        async for line in resp.aiter_lines():
            if not line.strip():
                continue
            item = json.loads(line)
            seen.append(item)
            state = ((item.get("result") or {}).get("statusUpdate") or {}).get("status", {})
            if state.get("state") == "TASK_STATE_WORKING":
                os.kill(proc.pid, signal.SIGKILL)
    assert seen[-1]["kind"] == "error"
    assert seen[-1]["type"] == "AgentOffline"
    assert "went offline during the call" in seen[-1]["message"]
    assert (await http.get("/health")).json()["openCalls"] == 0
    assert fleet.dashboard.tap is not None and fleet.dashboard.tap.watched == 0


async def test_a_closed_call_stream_cancels_the_call(
        fleet: Fleet, http: httpx.AsyncClient) -> None:
    ref = await fleet.agent("echo", "slowpoke")
    async with http.stream("POST", f"/api/send?agent={ref}",
                           json={"text": "x", "metadata": {"delay": 30}}) as resp:
        async for line in resp.aiter_lines():
            item = json.loads(line)
            if item["kind"] == "event" and "TASK_STATE_WORKING" in line:
                task_id = item["result"]["statusUpdate"]["taskId"]
                break

    async def closed() -> bool:
        return (await http.get("/health")).json()["openCalls"] == 0
    await until(closed)
    # The task itself lives on in the agent (a closed page is not a cancel); end it.
    resp = await http.post(f"/api/cancel?agent={ref}&task={task_id}")
    assert resp.json()["result"]["status"]["state"] == "TASK_STATE_CANCELED"


@asynccontextmanager
async def dashboard(broker: MosquittoProcess, **config: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = ConnectionSettings(url=broker.url)
    async with DashboardServer(DashboardConfig(connection=settings, port=0, **config)) as d, \
            httpx.AsyncClient(base_url=d.url) as client:
        yield client


async def test_sign_in_guards_sending_and_read_only_refuses(broker: MosquittoProcess) -> None:
    token = "t0ken-for-the-dashboard-test"
    async with dashboard(broker, access_token=token,
                         password_hash=hash_password("hunter2", n=2**10)) as http:
        assert (await http.get("/api/info")).json()["signedIn"] is False
        resp = await http.post("/api/send?agent=org/unit/x", json={"text": "x"})
        assert resp.status_code == 401 and resp.json()["error"] == "sign_in_required"
        resp = await http.post("/api/session", json={"secret": "wrong"})
        assert resp.status_code == 401 and "wrong" in resp.json()["message"]
        assert token not in resp.text
        resp = await http.post("/api/session", json={"secret": "hunter2"})
        assert resp.status_code == 200
        assert "httponly" in resp.headers["set-cookie"].lower()
        assert (await http.get("/api/info")).json()["signedIn"] is True
        await http.delete("/api/session")
        resp = await http.post("/api/session", json={"secret": token})
        assert resp.status_code == 200
        resp = await http.post("/api/cancel?agent=org/unit/x&task=t1")
        assert resp.status_code != 401  # signed in: the call is made (and fails: no agent)
    async with dashboard(broker, read_only=True) as http:
        resp = await http.post("/api/send?agent=org/unit/x", json={"text": "x"})
        assert resp.status_code == 403 and resp.json()["error"] == "read_only"
        assert (await http.get("/api/fleet")).status_code == 200


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_json = st.recursive(st.none() | st.booleans() | st.integers() | _text,
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(_text, c, max_size=4),
                     max_leaves=12)


async def test_the_http_surface_answers_hostile_input_with_4xx(
        fleet: Fleet, http: httpx.AsyncClient) -> None:
    base = fleet.url

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=_text, params=st.dictionaries(_text, _text, max_size=4), body=_json,
           fields=st.dictionaries(st.sampled_from(
               ["text", "data", "files", "taskId", "contextId", "metadata", "x"]), _json,
               max_size=4))
    def check(path: str, params: dict[str, str], body: Any, fields: dict[str, Any]) -> None:
        with httpx.Client(base_url=base, timeout=20.0) as client:
            for resp in (
                client.get("/api/agents/" + quote(path, safe="/")),
                client.get("/api/fleet", params=params),
                client.get("/api/rejected", params=params),
                client.post("/api/send", params={"agent": path}, json=body),
                client.post("/api/send", params={"agent": "no/such/agent"}, json=fields),
                client.post("/api/session", json=body),
                client.post("/api/cancel", params=params),
            ):
                assert resp.status_code < 500 or resp.status_code == 502, (resp.request.url,
                                                                           resp.text)
                if resp.headers.get("content-type", "").startswith("application/json"):
                    resp.json()
    await asyncio.to_thread(check)
    assert (await http.get("/health")).json()["status"] == "ok"


async def test_a_pool_lists_its_members_and_answers_a_chat(
        fleet: Fleet, http: httpx.AsyncClient, tmp_path: Any) -> None:
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.examples.basic import EchoExecutor, echo_card
    from a2a_mqtt.server import AgentConfig, AgentHost

    unit = fleet.prefix
    configs = [AgentConfig(ref=AgentRef("pools", unit, f"m{i}"), card=echo_card(),
                           executor=EchoExecutor(),
                           connection=ConnectionSettings(url=fleet.broker.url), pool="p",
                           pool_dispatch="claim", task_store_url=f"sqlite:///{tmp_path}/p.db",
                           session_expiry=0) for i in range(2)]
    async with AgentHost(configs):
        pool = AgentRef("pools", unit, "p", pool=True)

        async def listed() -> bool:
            resp = await http.get(f"/api/agents/{pool}")
            return resp.status_code == 200 and len(resp.json()["members"]) == 2
        await until(listed)
        body = (await http.get(f"/api/agents/{pool}")).json()
        assert sorted(m["ref"] for m in body["members"]) == [
            f"pools/{unit}/m0", f"pools/{unit}/m1"]
        assert (await http.get(f"/api/agents/pools/{unit}/m0")).json()["pool"] == str(pool)
        async with http.stream("POST", f"/api/send?agent={pool}", json={"text": "pooled"}) as r:
            got = await items(r)
        assert got[-1] == {"kind": "end"}
        responders = {i.get("responder") for i in got if i["kind"] == "event"}
        assert responders <= {"m0", "m1"} and responders


async def test_beside_a_registry_pages_hear_when_its_feed_breaks_and_returns(
        broker: MosquittoProcess) -> None:
    from a2a_mqtt.registry import RegistryConfig, RegistryServer

    settings = ConnectionSettings(url=broker.url)
    registry = RegistryServer(RegistryConfig(connection=settings, http_port=0, agent_ref=None))
    await registry.start()
    port = int(registry.url.rsplit(":", 1)[1])
    try:
        async with DashboardServer(DashboardConfig(
                connection=settings, port=0, registry_url=registry.url)) as dash, \
                httpx.AsyncClient(base_url=dash.url, timeout=None) as http, \
                http.stream("GET", "/api/events") as stream:
            lines = stream.aiter_lines()

            async def feed_state() -> bool:
                while True:
                    line = await anext(lines)
                    if line.startswith("data:") and "connected" in line:
                        return bool(json.loads(line[5:])["connected"])
            assert await feed_state() is True
            await registry.stop()
            assert await asyncio.wait_for(feed_state(), 10) is False
            registry = RegistryServer(RegistryConfig(connection=settings, http_port=port,
                                                     agent_ref=None))
            await registry.start()
            assert await asyncio.wait_for(feed_state(), 15) is True
    finally:
        await registry.stop()


async def test_the_gateway_links_of_an_agent_answer_on_a_real_gateway(
        broker: MosquittoProcess, unique_id: str) -> None:
    from a2a_mqtt.binding.topics import AgentRef
    from a2a_mqtt.examples.basic import EchoExecutor, echo_card
    from a2a_mqtt.gateway import GatewayConfig, GatewayServer
    from tests.behaviour.conftest import serve

    settings = ConnectionSettings(url=broker.url)
    ref = AgentRef("gw", "links", unique_id)
    async with serve(broker.url, ref, EchoExecutor(), echo_card()), \
            GatewayServer(GatewayConfig(connection=settings, port=0)) as gateway, \
            DashboardServer(DashboardConfig(connection=settings, port=0,
                                            gateway_url=gateway.url)) as dash, \
            httpx.AsyncClient(timeout=20) as http:
        links = (await http.get(f"{dash.url}/api/agents/{ref}")).json()["gateway"]
        card = await http.get(links["card"])
        assert card.status_code == 200 and card.json()["name"] == "Echo"
        reply = await http.post(links["jsonrpc"], json={
            "jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}},
            headers={"A2A-Version": "1.0"})
        assert reply.status_code == 200 and "error" in reply.json()  # the agent answered
