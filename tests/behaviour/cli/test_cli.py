"""The ``a2a-mqtt`` command against a real broker and agents: JSON output, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest
from a2a.types.a2a_pb2 import GetExtendedAgentCardRequest

from a2a_mqtt.binding.topics import AgentRef, request_topic
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, GreeterExecutor, echo_card, greeter_card
from tests.behaviour.conftest import serve

pytestmark = pytest.mark.asyncio


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def as_json(text: str) -> Any:
    return json.loads(text)


async def test_agents_list_show_and_filters(broker: MosquittoProcess, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        code, out, err = await cli("agents", "list", "--broker", broker.url, "--json")
        assert code == 0, err
        listed = as_json(out)
        assert [a["ref"] for a in listed] == [str(ref)]
        assert listed[0]["status"] == "online" and listed[0]["tags"] == ["echo", "test"]
        code, out, _ = await cli("agents", "list", "--json", "--tag", "nope",
                                 env={"A2A_MQTT_BROKER": broker.url})
        assert code == 0 and as_json(out) == []
        code, out, _ = await cli("agents", "show", str(ref), "--broker", broker.url, "--json")
        assert code == 0
        shown = as_json(out)
        assert shown["card"]["name"] == "Echo"
        code, out, _ = await cli("agents", "list", "--broker", broker.url)
        assert code == 0 and str(ref) in out and "online" in out


async def test_send_stream_and_tasks(broker: MosquittoProcess, ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        code, out, err = await cli("send", str(ref), "hello cli", "--broker", broker.url,
                                   "--stream")
        assert code == 0, err
        lines = out.strip().splitlines()
        assert lines[0].startswith("[task ")
        assert "[status] WORKING echoing" in lines
        assert "[artifact echo] hello cli" in lines
        assert lines[-1] == "[status] COMPLETED"
        code, out, err = await cli("send", str(ref), "again", "--broker", broker.url, "--json")
        assert code == 0, err
        task = as_json(out)["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        code, out, _ = await cli("tasks", "get", str(ref), task["id"], "--broker", broker.url,
                                 "--json")
        assert code == 0 and as_json(out)["id"] == task["id"]
        code, out, _ = await cli("tasks", "list", str(ref), "--broker", broker.url, "--json")
        assert code == 0 and len(as_json(out)["tasks"]) == 2
        code, _, err = await cli("tasks", "cancel", str(ref), task["id"], "--broker",
                                 broker.url)
        assert code == 1 and "TaskNotCancelableError" in err


async def test_multi_turn_from_the_cli(broker: MosquittoProcess, ref: AgentRef) -> None:
    async with serve(broker.url, ref, GreeterExecutor(), greeter_card()):
        code, out, _ = await cli("send", str(ref), "hi", "--broker", broker.url, "--json")
        first = as_json(out)["task"]
        assert code == 0 and first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        code, out, _ = await cli("send", str(ref), "Grace", "--broker", broker.url, "--json",
                                 "--task-id", first["id"], "--context-id", first["contextId"])
        assert code == 0
        assert as_json(out)["task"]["artifacts"][0]["parts"][0]["text"] == "Hello, Grace!"


async def test_failures_exit_non_zero_with_a_message(broker: MosquittoProcess) -> None:
    code, _, err = await cli("send", "not-a-ref", "x", "--broker", broker.url)
    assert code == 2 and "org/unit/agent" in err
    code, _, err = await cli("send", "a/b/nobody", "x", "--broker", broker.url,
                             "--timeout", "0.5")
    assert code == 1 and "nobody" in err
    code, _, err = await cli("agents", "show", "a/b/nobody", "--broker", broker.url,
                             "--timeout", "0.3")
    assert code == 1 and "DiscoveryError" in err
    code, _, err = await cli("agents", "list", "--broker", "mqtt://127.0.0.1:1")
    assert code == 1 and "ConnectError" in err
    code, _, err = await cli("example", "nope", "--broker", broker.url)
    assert code == 2 and "echo" in err


async def test_broker_command_prints_its_url_and_serves(tmp_path: Any) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "broker", "--state-dir", str(tmp_path / "b"),
        # The user's real state file is not this test's to write (test_defaults.py
        # covers it in a private runtime dir).
        "--no-state-file", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert url.startswith("mqtt://127.0.0.1:")
        code, out, err = await cli("agents", "list", "--broker", url, "--json")
        assert code == 0 and as_json(out) == [], err
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0


async def test_example_showcase_in_a_pool_with_extended_card_and_leave_on_stop(
        broker: MosquittoProcess, client: A2AMqttClient, unique_id: str,
        tmp_path: Any) -> None:
    ref = AgentRef("cli", unique_id, "showcase")
    pool = AgentRef("cli", unique_id, "p", pool=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "example", "showcase", "--agent", str(ref),
        "--broker", broker.url, "--pool", "p", "--pool-dispatch", "claim",
        "--task-store", f"sqlite:///{tmp_path}/pool.db", "--keepalive", "5",
        env={**os.environ, "A2A_MQTT_LEAVE_POOL_ON_STOP": "1"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            while (entry := client.discovery.get(ref)) is None or not entry.online:
                await client.requester.barrier()
                await asyncio.sleep(0.05)
        extended = await client.transport_for(pool).get_extended_agent_card(
            GetExtendedAgentCardRequest())
        assert extended.description.endswith("(extended card)")
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    # --leave-pool-on-stop (here from its environment variable): the pool topic has no
    # subscriber left, the member's session keeps only its own requests.
    code = await client.requester.transport.publish(request_topic(pool), b"{}", qos=1)
    assert code == 0x10
