"""What the workflow tests set up alike: the step agent with its effect log, a run
database, and a client (supervisors differ per test: ``support.supervisor``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from tests.behaviour.conftest import requester_config, serve
from tests.behaviour.workflows.worker import EffectExecutor, worker_card


@pytest.fixture
def effect_log(tmp_path: Path) -> Path:
    """Where the step agents write their ``start`` and ``effect`` lines (support.effects)."""
    return tmp_path / "effects.log"


@pytest.fixture
def run_db(tmp_path: Path) -> str:
    """A SQLite run database of the test's own."""
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest_asyncio.fixture
async def step_agent(broker: MosquittoProcess, effect_log: Path) -> AsyncIterator[EffectExecutor]:
    """``test/unit/worker``, the step agent of the test workflows, logging its effects."""
    executor = EffectExecutor(str(effect_log))
    async with serve(broker.url, "test/unit/worker", executor, worker_card()):
        yield executor


@pytest_asyncio.fixture
async def mqtt(broker: MosquittoProcess) -> AsyncIterator[A2AMqttClient]:
    """A client on the test's broker (it calls the workflows, and the agents)."""
    async with A2AMqttClient(requester_config(broker.url)) as client:
        yield client
