"""RegistryClient (Discovery's surface over HTTP) and the CLI's ``--registry`` and ``registry``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import DiscoveryError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.registry import RegistryClient
from a2a_mqtt.server import AgentConfig, AgentHost
from tests.behaviour.cli.test_cli import cli
from tests.behaviour.conftest import requester_config, text
from tests.behaviour.registry.conftest import Publisher, start_registry
from tests.unit.registry.cards import card_bytes

pytestmark = pytest.mark.asyncio


async def test_registry_client_mirrors_discovery(broker: MosquittoProcess, publisher: Publisher,
                                                 unique_id: str) -> None:
    echo = AgentRef("cl", unique_id, "echo")
    config = AgentConfig(ref=echo, card=echo_card(), executor=EchoExecutor(),
                         connection=ConnectionSettings(url=broker.url), session_expiry=0)
    sleeper = AgentRef("cl", unique_id, "sleeper")
    await publisher.card(sleeper, card_bytes(sleeper), status="offline")
    async with AgentHost([config]), start_registry(broker.url) as registry, \
            RegistryClient(registry.url) as directory, \
            A2AMqttClient(requester_config(broker.url), discover=False) as mqtt:
        listed = await directory.list(unit=unique_id)
        assert [str(e.ref) for e in listed] == [str(echo), str(sleeper)]
        assert [e.ref for e in await directory.list(unit=unique_id, online=False)] == [sleeper]
        assert [e.ref for e in await directory.list(tag="echo", unit=unique_id)] == [echo]
        entry = await directory.get(echo)
        assert entry is not None and entry.card is not None and entry.card.name == "Echo"
        assert await directory.get(AgentRef("cl", unique_id, "nobody")) is None
        # An entry from the registry calls the agent over MQTT like a discovered one.
        found = await directory.find(tag="echo", unit=unique_id)
        response = await mqtt.client_for(found).send_message(text("via the registry")).__anext__()
        assert response.HasField("task") or response.HasField("status_update")
        with pytest.raises(DiscoveryError, match="no online agent matches"):
            await directory.find(unit=unique_id, tag="nothing-has-this", timeout=0.3)
        # resolve waits for a card that appears later.
        late = AgentRef("cl", unique_id, "late")
        waiter = asyncio.create_task(directory.resolve(late, timeout=10))
        await publisher.card(late, card_bytes(late))
        assert (await waiter).ref == late
        stats = await directory.stats()
        assert stats["ready"] is True


async def test_watch_lists_then_follows(broker: MosquittoProcess, publisher: Publisher,
                                        unique_id: str) -> None:
    first, second = AgentRef("w", unique_id, "one"), AgentRef("w", unique_id, "two")
    await publisher.card(first, card_bytes(first))
    async with start_registry(broker.url) as registry, RegistryClient(registry.url) as rc:
        events = rc.watch(org="w", unit=unique_id)
        existing = await asyncio.wait_for(anext(events), 10)
        assert (existing.kind, existing.entry.ref) == ("added", first)
        await publisher.card(second, card_bytes(second))
        await publisher.card(first, card_bytes(first), status="offline", source="lwt")
        await publisher.card(second, b"{bad")
        await publisher.delete(first)
        seen = [await asyncio.wait_for(anext(events), 10) for _ in range(5)]
        assert [(e.kind, e.entry.ref.name) for e in seen] == [
            ("added", "two"), ("offline", "one"), ("removed", "two"), ("invalid", "two"),
            ("removed", "one")]
        assert seen[3].entry.problems and seen[1].entry.status_source == "lwt"
        await events.aclose()


async def test_cli_agents_commands_with_registry_match_broker(
        broker: MosquittoProcess, publisher: Publisher, unique_id: str) -> None:
    ref = AgentRef("cli", unique_id, "echo")
    await publisher.card(ref, card_bytes(ref))
    other = AgentRef("cli", unique_id, "quiet")
    await publisher.card(other, card_bytes(other), status="offline")
    async with start_registry(broker.url) as registry:
        for args in (["--org", "cli", "--json"], ["--org", "cli", "--tag", "vision", "--json"],
                     ["--org", "cli", "--offline", "--json"], ["--org", "cli"]):
            code, via_broker, err = await cli("agents", "list", "--broker", broker.url, *args)
            assert code == 0, err
            code, via_registry, err = await cli("agents", "list", "--registry", registry.url,
                                                *args)
            assert code == 0, err
            assert via_registry == via_broker, args
        code, shown, err = await cli("agents", "show", str(ref), "--json",
                                     env={"A2A_MQTT_REGISTRY": registry.url})
        assert code == 0, err
        assert json.loads(shown)["card"]["name"] == "Line inspector"
        code, _, err = await cli("agents", "show", f"cli/{unique_id}/nobody", "--timeout",
                                 "0.5", "--registry", registry.url)
        assert code != 0 and "no usable agent card" in err
        code, watched, err = await cli("agents", "watch", "--registry", registry.url, "--org",
                                       "cli", "--count", "2")
        assert code == 0, err
        assert [line.split()[:2] for line in watched.splitlines()] == [
            ["added", str(ref)], ["added", str(other)]]
        code, _, err = await cli("agents", "list", "--registry", "http://127.0.0.1:9")
        assert code != 0 and "unreachable" in err


async def test_registry_serve_command(broker: MosquittoProcess, publisher: Publisher,
                                      unique_id: str) -> None:
    ref = AgentRef("srv", unique_id, "a")
    await publisher.card(ref, card_bytes(ref))
    await publisher.card(AgentRef("srv", unique_id, "b"), b"nope")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt.cli.registry_cmds", "serve", "--broker", broker.url,
        "--port", "0", "--org", "srv", "--agent", f"srv/{unique_id}/registry",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        code, out, err = await cli("agents", "list", "--registry", url, "--json")
        assert code == 0, err
        # Scoped to org srv: its own agent card and ours, nothing of other orgs.
        assert [a["ref"] for a in json.loads(out)] == [str(ref), f"srv/{unique_id}/registry"]
        code, out, err = await cli_registry("rejected", "--registry", url, "--json")
        assert code == 0, err
        assert [i["ref"] for i in json.loads(out)] == [f"srv/{unique_id}/b"]
        code, out, err = await cli_registry("stats", "--registry", url)
        assert code == 0 and json.loads(out)["index"]["rejected"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0
    code, _, err = await cli_registry("serve", "--broker", broker.url, "--stale-dry-run")
    assert code == 2 and "needs --stale-after" in err


async def cli_registry(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt.cli.registry_cmds", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
