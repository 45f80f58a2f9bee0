"""Helpers for the supervisor tests: in-process supervisors, a caller, the effect log."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2a.client import Client
from a2a.types.a2a_pb2 import (
    AgentCard,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict

from a2a_mqtt.binding import properties as P
from a2a_mqtt.binding.card import encode_card, prepare_card
from a2a_mqtt.binding.topics import AgentRef, discovery_topic, request_topic
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.transport.base import (
    BrokerURL,
    ConnectOptions,
    IncomingMessage,
    MqttTransport,
    PublishProperties,
    Subscription,
    default_transport,
)
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.progress import META_KEY
from a2a_mqtt.workflows.supervisor import Supervisor, SupervisorConfig

FINAL = (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
         TaskState.TASK_STATE_CANCELED)


@contextlib.asynccontextmanager
async def supervisor(broker_url: str, db: str, *yaml_texts: str, sup_id: str = "sup-a",
                     **overrides: Any) -> AsyncIterator[Supervisor]:
    """One supervisor in this process, serving the workflows, until the block ends."""
    overrides.setdefault("lease_ttl", 2.0)
    overrides.setdefault("poll_interval", 0.2)
    overrides.setdefault("resolve_timeout", 3.0)
    config = SupervisorConfig(workflows=tuple(parse_workflow(t) for t in yaml_texts),
                              database_url=db, connection=ConnectionSettings(url=broker_url),
                              org="wf", unit="test", supervisor_id=sup_id, session_expiry=60,
                              **overrides)
    sup = config.server()
    stop = asyncio.Event()
    task = asyncio.create_task(sup.serve(stop), name=f"test-supervisor-{sup_id}")
    try:
        for _ in range(200):
            if sup.transport is not None and sup.transport.connected:
                break
            await asyncio.sleep(0.02)
        yield sup
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@dataclass
class Outcome:
    """What one caller saw on one workflow task."""

    task_id: str
    items: list[StreamResponse] = field(default_factory=list)
    state: int | None = None

    @property
    def progress(self) -> list[dict[str, Any]]:
        """The data part of each progress update, in order."""
        out = []
        for item in self.items:
            if item.HasField("status_update") and item.status_update.status.HasField("message"):
                for part in item.status_update.status.message.parts:
                    if part.HasField("data"):
                        out.append(MessageToDict(part.data))
        return out

    @property
    def seqs(self) -> list[int]:
        out = []
        for item in self.items:
            if item.HasField("status_update"):
                meta = MessageToDict(item.status_update.metadata).get(META_KEY, {})
                out.append(int(meta["seq"]))
        return out

    def coherent(self) -> bool:
        """True if, once repeats are dropped, the stream is the log in order: every item
        with a position seen before is identical to the first (a repeat after a
        takeover), and every new position is past all earlier ones."""
        first: dict[int, StreamResponse] = {}
        for item in self.items:
            if not item.HasField("status_update"):
                continue
            seq = int(MessageToDict(item.status_update.metadata)[META_KEY]["seq"])
            if seq in first:
                if first[seq] != item:
                    return False
            elif first and seq < max(first):
                return False
            first.setdefault(seq, item)
        return True

    @property
    def output(self) -> list[Any]:
        values: list[Any] = []
        for item in self.items:
            if item.HasField("artifact_update"):
                for part in item.artifact_update.artifact.parts:
                    values.append(MessageToDict(part.data) if part.HasField("data")
                                  else part.text)
        return values

    @property
    def error(self) -> str:
        last = self.items[-1]
        status = last.status_update.status if last.HasField("status_update") \
            else last.task.status
        return " ".join(p.text for p in status.message.parts if p.HasField("text"))

    def terminal_count(self) -> int:
        count = 0
        for item in self.items:
            status = item.status_update.status if item.HasField("status_update") else (
                item.task.status if item.HasField("task") else None)
            if status is not None and status.state in FINAL:
                count += 1
        return count


def data_message(task_id: str, value: Any) -> Message:
    part = Part(media_type="application/json")
    ParseDict(value, part.data)
    return Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, task_id=task_id,
                   parts=[part])


async def call(client: Client, inputs: dict[str, Any], *, replies: list[str] | None = None,
               task_id: str | None = None, outcome: Outcome | None = None) -> Outcome:
    """Run the workflow to a final state, answering input-required from ``replies``."""
    replies = list(replies or [])
    seen = outcome or Outcome(task_id or str(uuid.uuid4()))
    message = data_message(seen.task_id, inputs)
    while True:
        async for item in client.send_message(SendMessageRequest(message=message)):
            seen.items.append(item)
            status = item.status_update.status if item.HasField("status_update") else (
                item.task.status if item.HasField("task") else None)
            if status is not None:
                seen.state = status.state
        if seen.state == TaskState.TASK_STATE_INPUT_REQUIRED and replies:
            message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER,
                              task_id=seen.task_id, parts=[Part(text=replies.pop(0))])
            continue
        return seen


def effects(log: Path) -> collections.Counter[str]:
    """How many times each step's effect ran (from the agents' execution log)."""
    if not log.exists():
        return collections.Counter()
    return collections.Counter(line.split()[1] for line in log.read_text().splitlines()
                               if line.startswith("effect "))


async def serve_raw_agent(url: str, ref: AgentRef, card: AgentCard,
                          on_request: Callable[[MqttTransport, IncomingMessage], None]) -> None:
    """A step agent on the transport seam alone (for agents a2a-mqtt would never be):
    ``on_request(transport, msg)`` sees each request; its card is retained online.
    Runs until cancelled."""
    transport = default_transport(ConnectOptions(url=BrokerURL.parse(url), client_id=str(ref)))
    await transport.subscribe(Subscription(request_topic(ref), qos=1),
                              lambda msg: on_request(transport, msg))
    await transport.connect()
    await transport.publish(discovery_topic(ref),
                            encode_card(prepare_card(card, ref=ref, broker_url=url)), qos=1,
                            retain=True, properties=PublishProperties(
                                user_properties=P.status_properties("online", "agent")))
    try:
        await asyncio.Event().wait()
    finally:
        await transport.disconnect()
