"""Helpers for MCP-over-MQTT behaviour tests on the per-test Mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.mcp.client import McpClientConfig
from a2a_mqtt.mcp.example_server import build_example_server
from a2a_mqtt.mcp.server import McpMqttServer, McpServerConfig

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "a2a-mqtt")


@pytest.fixture
def server_name(unique_id: str) -> str:
    return f"test/{unique_id}"


def client_config(url: str, name: str, **overrides: Any) -> McpClientConfig:
    overrides.setdefault("discovery_timeout", 10.0)
    return McpClientConfig(connection=ConnectionSettings(url=url), server_name=name, **overrides)


@pytest_asyncio.fixture
async def example(broker: MosquittoProcess, server_name: str) -> AsyncIterator[McpMqttServer]:
    """The example MCPServer served over MQTT under ``server_name``."""
    config = McpServerConfig(connection=ConnectionSettings(url=broker.url), server_name=server_name,
                             description="example tools")
    async with McpMqttServer(config=config, app=build_example_server()) as server:
        yield server


class Processes:
    """Subprocesses started by a test, killed at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self._log_dir = log_dir

    def start(self, *args: str, stdin: Any = None, stdout: Any = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log_path = self._log_dir / f"process-{len(self.started)}.log"
        with log_path.open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=log, env=env)
        self.started.append(proc)
        return proc


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    for proc in procs.started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
