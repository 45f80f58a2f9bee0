"""THE SLOW ONE (marked ``slow``, ~40-80 s): a fresh virtualenv with ``pip install ".[cli]"``.

A plain client install pulls neither database drivers nor an HTTP server, its
``a2a-mqtt send`` works against a real broker and an echo agent (served from
this, the full, environment), and a command that needs a missing extra says
which one in one line (exit 1, no traceback). pip's cache keeps it fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.conftest import serve

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("client-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--no-input", "--no-compile", f"{REPO}[cli]"],
        env=env, capture_output=True, text=True, timeout=85, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def run_in(venv: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run([*args], cwd=venv, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("module", ["sqlalchemy", "uvicorn", "starlette", "asyncpg",
                                    "aiosqlite", "mcp"])
def test_a_client_install_has_no_server_side_libraries(client_venv: Path, module: str) -> None:
    done = run_in(client_venv, str(client_venv / "bin" / "python"), "-c", f"import {module}")
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr


@pytest.mark.asyncio
async def test_send_works_from_the_client_install(client_venv: Path, broker: MosquittoProcess,
                                                  unique_id: str) -> None:
    ref = AgentRef("pkg", unique_id, "echo")
    async with serve(broker.url, ref, EchoExecutor(), echo_card()):
        import asyncio

        done = await asyncio.to_thread(
            run_in, client_venv, str(client_venv / "bin" / "a2a-mqtt"), "send",
            "--broker", broker.url, str(ref), "hello from a client install")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "hello from a client install" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "extra"), [
    (["gateway", "serve", "--port", "0"], "a2a-mqtt[gateway]"),
    (["registry", "serve", "--port", "0"], "a2a-mqtt[registry]"),
    (["mcp", "list"], "a2a-mqtt[mcp]"),
    (["example", "echo"], "a2a-mqtt[server]"),
])
def test_a_missing_extra_is_named_in_one_line(client_venv: Path, broker: MosquittoProcess,
                                             args: list[str], extra: str) -> None:
    done = run_in(client_venv, str(client_venv / "bin" / "a2a-mqtt"), *args,
                  "--broker", broker.url, timeout=30)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and extra in lines[0], done.stderr


@pytest.mark.parametrize(("name", "extra"), [("GatewayServer", "a2a-mqtt[gateway]"),
                                             ("AgentServer", "a2a-mqtt[server]"),
                                             ("McpMqttServer", "a2a-mqtt[mcp]")])
def test_the_package_names_the_missing_extra(client_venv: Path, name: str, extra: str) -> None:
    probe = (f"import a2a_mqtt\ntry:\n    a2a_mqtt.{name}\n"
             f"except ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    done = run_in(client_venv, str(client_venv / "bin" / "python"), "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingExtraError") and extra in done.stdout, done.stdout
    # ...and what a client needs resolves.
    ok = run_in(client_venv, str(client_venv / "bin" / "python"), "-c",
                "from a2a_mqtt import A2AMqttClient, ConnectionSettings, RequesterConfig")
    assert ok.returncode == 0, ok.stderr


def test_the_registry_client_works_without_the_registry_extra(client_venv: Path) -> None:
    done = run_in(client_venv, str(client_venv / "bin" / "python"), "-c",
                  "from a2a_mqtt import RegistryClient; print(RegistryClient.__name__)")
    assert done.returncode == 0 and done.stdout.strip() == "RegistryClient", done.stderr
