"""Fixtures shared by every test.

* ``broker``: a fresh Mosquitto on a free port with its state in ``tmp_path``,
  stopped at teardown. Behaviour tests run against it, never against a fake.
* ``broker_factory``: ``broker_factory(**overrides)`` starts a broker from
  ``BrokerConfig(**overrides)`` (for ACLs, passwords, Receive Maximum, ...); all
  of them are stopped at teardown.
* ``unique_id``: a short identifier, unique per test run, safe for
  ``^[A-Za-z0-9_.-]+$``; use it in client ids and topics so tests never collide.

If ``mosquitto`` is not installed, the broker fixtures *fail* (they do not skip)
with an install hint: a silently skipped behaviour suite proves nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from a2a_mqtt.telemetry import prefer_a2a_sdk_spans_off

# The test process is an a2a-mqtt process: the same start-up decision as the
# command's (a2a_mqtt/__main__.py), before anything imports a2a-sdk.
prefer_a2a_sdk_spans_off()

from a2a_mqtt.broker import BrokerConfig, MosquittoProcess  # noqa: E402 - after the decision
from a2a_mqtt.errors import BrokerError  # noqa: E402

BrokerFactory = Callable[..., MosquittoProcess]


def _start(config: BrokerConfig) -> MosquittoProcess:
    process = MosquittoProcess(config=config)
    try:
        process.start()
    except BrokerError as exc:
        pytest.fail(f"cannot start the test broker: {exc}", pytrace=False)
    return process


@pytest.fixture(autouse=True, scope="session")
def _private_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The broker state file (cli/state.py) lives under XDG_RUNTIME_DIR: give the whole
    run, and every CLI process it starts, a private one, so no test reads or writes the
    user's broker announcement."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
        yield


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A started Mosquitto on a free port; ``broker.url`` is ``mqtt://127.0.0.1:PORT``."""
    process = _start(BrokerConfig(state_dir=tmp_path / "broker"))
    yield process
    process.stop()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[BrokerFactory]:
    """Start brokers from ``BrokerConfig`` overrides; each gets its own state dir."""
    started: list[MosquittoProcess] = []

    def make(**overrides: Any) -> MosquittoProcess:
        overrides.setdefault("state_dir", tmp_path / f"broker-{len(started)}")
        process = _start(BrokerConfig(**overrides))
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


@pytest.fixture
def unique_id(request: pytest.FixtureRequest) -> str:
    """``<test name, sanitised, at most 32 chars>-<6 random hex digits>``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_.-")[:32]
    return f"{name or 'test'}-{secrets.token_hex(3)}"


@pytest.fixture
def postgres_dsn() -> str:
    """A reachable PostgreSQL (``A2A_MQTT_TEST_POSTGRES_DSN``) as a SQLAlchemy async URL.

    Skipped, saying why, when none is reachable -- unless ``A2A_MQTT_REQUIRE_POSTGRES=1``
    (set by ``scripts/test`` under CI), where a missing database fails the test.
    """
    import os
    import socket
    from urllib.parse import urlsplit

    dsn = os.environ.get("A2A_MQTT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    parts = urlsplit(dsn)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2).close()
    except OSError as exc:
        message = f"PostgreSQL at {parts.hostname}:{parts.port or 5432} unreachable ({exc})"
        if os.environ.get("A2A_MQTT_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; A2A_MQTT_REQUIRE_POSTGRES=1 makes it mandatory")
        pytest.skip(message + "; set A2A_MQTT_TEST_POSTGRES_DSN to run PostgreSQL tests")
    return dsn


@pytest_asyncio.fixture
async def postgres_database(postgres_dsn: str) -> Any:
    """A throwaway PostgreSQL database (created here, dropped after); yields its URL."""
    import uuid

    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"a2a_mqtt_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(postgres_dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
                                isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        yield postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
        async with admin.connect() as conn:
            await conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
