"""The ``gateway`` commands as processes: serve, showcase and expose, stopped by SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from a2a.types.a2a_pb2 import TaskState
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from tests.behaviour.conftest import text
from tests.behaviour.gateway.conftest import asgi_server
from tests.behaviour.gateway.test_expose import http_agent

pytestmark = pytest.mark.asyncio

# Until the lead registers the group in cli/main.py, run it directly.
_GATEWAY = [sys.executable, "-c",
            "from a2a_mqtt.cli.gateway_cmds import gateway; gateway(prog_name='gateway')"]


@asynccontextmanager
async def command(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *_GATEWAY, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(15):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(15):
        return await proc.wait()


async def test_serve_showcase_and_stop_cleanly(broker: MosquittoProcess, client: A2AMqttClient,
                                               ref: AgentRef) -> None:
    async with command("--port", "0", "--broker", broker.url) as gw, command(
            "showcase", "--agent", str(ref), "--broker", broker.url) as agent:
        assert gw.stdout is not None
        async with asyncio.timeout(20):
            url = (await gw.stdout.readline()).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        await client.discovery.resolve(ref, timeout=20)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/healthz")).json()["status"] == "ok"
            r = await http.post(f"{url}/{ref}", headers={"A2A-Version": "1.0"}, json={
                "jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
                    "messageId": "tck-complete-task-1", "role": "ROLE_USER",
                    "parts": [{"text": "hi"}]}}})
            assert r.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        assert await _stop(agent) == 0
        assert await _stop(gw) == 0


async def test_expose_from_a_config_file(broker: MosquittoProcess, client: A2AMqttClient,
                                         ref: AgentRef, tmp_path: Path) -> None:
    async with http_agent() as (url, _executor, _store):
        path = tmp_path / "agents.json"
        path.write_text(f'{{"agents": [{{"url": "{url}", "agent": "{ref}"}}]}}')
        async with command("expose", "--config", str(path), "--broker", broker.url,
                           "--session-expiry", "0") as proc:
            entry = await client.discovery.resolve(ref, timeout=20)
            assert entry.online
            response = await client.transport_for(ref).send_message(text("hello"))
            assert response.task.status.state == TaskState.TASK_STATE_COMPLETED
            assert await _stop(proc) == 0


async def test_bad_arguments_exit_non_zero_with_a_message(broker: MosquittoProcess) -> None:
    async with command("expose", "http://127.0.0.1:9", "--broker", broker.url) as proc:
        async with asyncio.timeout(20):
            _, err = await proc.communicate()
        assert proc.returncode != 0 and b"--agent" in err
    async with command("--port", "0", "--public-url", "ftp://x", "--broker", broker.url) as p2:
        async with asyncio.timeout(20):
            _, err = await p2.communicate()
        assert p2.returncode != 0 and b"public_url" in err
    async with asgi_server(_nothing) as dead, command(
            "expose", dead, "--agent", "a/b/c", "--broker", broker.url) as p3:
        async with asyncio.timeout(20):
            _, err = await p3.communicate()
        assert p3.returncode != 0 and b"fetching its card failed" in err


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    """An HTTP server without any agent: every request is a 404."""
    await PlainTextResponse("no agent here", status_code=404)(scope, receive, send)
