"""Helpers for behaviour tests: agents and clients on the per-test Mosquitto.

* ``serve(url, ref, executor, card, **config)``: an AgentServer, started and stopped.
* ``client``: an A2AMqttClient on the test broker with short, bounded timeouts.
* ``text(...)``: a SendMessageRequest carrying one text part.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from a2a.server.agent_execution import AgentExecutor
from a2a.types.a2a_pb2 import AgentCard, Message, Part, Role, SendMessageRequest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.server import AgentConfig, AgentServer


@asynccontextmanager
async def serve(url: str, ref: str | AgentRef, executor: AgentExecutor, card: AgentCard,
                **config: Any) -> AsyncIterator[AgentServer]:
    agent_ref = AgentRef.parse(ref) if isinstance(ref, str) else ref
    config.setdefault("session_expiry", 0)
    async with AgentServer(AgentConfig(ref=agent_ref, card=card, executor=executor,
                                       connection=ConnectionSettings(url=url), **config)) as server:
        yield server


def requester_config(url: str, **overrides: Any) -> RequesterConfig:
    overrides.setdefault("reply_first_timeout", 5.0)
    overrides.setdefault("stream_idle_timeout", 10.0)
    overrides.setdefault("max_attempts", 1)
    overrides.setdefault("connection", ConnectionSettings(url=url))
    return RequesterConfig(**overrides)


@pytest_asyncio.fixture
async def client(broker: MosquittoProcess) -> AsyncIterator[A2AMqttClient]:
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        yield mqtt


def text(body: str, *, task_id: str = "", context_id: str = "",
         metadata: dict[str, Any] | None = None) -> SendMessageRequest:
    msg = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=body)],
                  task_id=task_id, context_id=context_id)
    request = SendMessageRequest(message=msg)
    if metadata:
        request.metadata.update(metadata)
    return request


@pytest.fixture
def ref(unique_id: str) -> AgentRef:
    """A fresh agent reference for this test."""
    return AgentRef("test", "unit", unique_id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh shared task-store URL: a SQLite file, then a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    url: str = request.getfixturevalue("postgres_database")
    return url
