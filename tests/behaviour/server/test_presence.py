"""Presence: retained online card, graceful offline, LWT after kill -9 of the agent process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from a2a_mqtt.binding.card import BINDING_URI, card_problems, routing_ref
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.conftest import requester_config, serve

pytestmark = pytest.mark.asyncio


async def test_card_is_retained_valid_and_routable(broker: MosquittoProcess,
                                                   ref: AgentRef) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        # A client that connects afterwards still finds the card (retained).
        async with A2AMqttClient(requester_config(broker.url)) as mqtt:
            entry = await mqtt.discovery.resolve(ref, timeout=2)
    assert entry.online and entry.status_source == "agent"
    assert entry.problems == ()
    assert entry.card is not None
    assert entry.card.supported_interfaces[0].protocol_binding == BINDING_URI
    assert entry.card.supported_interfaces[0].url == broker.url
    assert routing_ref(entry.card) == ref
    from google.protobuf.json_format import MessageToDict

    assert card_problems(MessageToDict(entry.card)) == []


async def test_graceful_stop_marks_offline(broker: MosquittoProcess, ref: AgentRef,
                                           client: A2AMqttClient) -> None:
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        await client.requester.barrier()
        assert client.discovery.get(ref).online  # type: ignore[union-attr]
    await client.requester.barrier()
    entry = client.discovery.get(ref)
    assert entry is not None and not entry.online and entry.status_source == "agent"


async def test_kill_9_fires_last_will(broker: MosquittoProcess, ref: AgentRef,
                                      client: A2AMqttClient) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent", str(ref),
         "--broker", broker.url, "--session-expiry", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        events = client.discovery.watch()
        async with asyncio.timeout(20):
            async for event in events:
                if event.entry.ref == ref and event.entry.online:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        async with asyncio.timeout(20):
            async for event in events:
                if event.entry.ref == ref and not event.entry.online:
                    break
        await events.aclose()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    entry = client.discovery.get(ref)
    assert entry is not None and not entry.online
    assert entry.status_source == "lwt"
    assert entry.card is not None and entry.card.name == "Echo"
