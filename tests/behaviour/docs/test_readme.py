"""The README's snippets run as written, so they cannot rot.

* Every ```python block is a complete program. The one that serves agents runs
  as a process until SIGTERM; each other one runs to completion against it. The
  only edit is the broker address: ``mqtt://127.0.0.1:1883`` becomes the test
  broker's URL.
* Every ``a2a-mqtt ...`` line in a ```bash block names a real command with real
  options: it is parsed by the CLI itself (with ``--help`` appended, which parses
  every option and runs nothing).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.cli.main import main as cli
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings

README = Path(__file__).resolve().parents[3] / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_DOC_BROKER = "mqtt://127.0.0.1:1883"


def blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README.read_text()) if lang == language]


def cli_lines() -> list[str]:
    lines = []
    for body in blocks("bash"):
        for raw in body.splitlines():
            line = raw.split("  #", 1)[0].strip().removesuffix("&").strip()
            if line.startswith("a2a-mqtt "):
                lines.append(line)
    return lines


async def wait_online(url: str, ref: str, timeout: float) -> None:
    async with A2AMqttClient(RequesterConfig(connection=ConnectionSettings(url=url))) as mqtt:
        entry = await mqtt.discovery.resolve(ref, timeout=timeout)
        assert entry.online


def test_the_readme_has_the_snippets_this_test_runs() -> None:
    programs = blocks("python")
    assert len(programs) >= 2
    assert sum("run(config)" in p for p in programs) == 1
    assert len(cli_lines()) >= 10


@pytest.mark.parametrize("line", cli_lines())
def test_every_cli_line_parses(line: str) -> None:
    args = [*shlex.split(line)[1:], "--help"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, f"{line!r}: {result.output.strip().splitlines()[-1:]}"
    assert "Usage:" in result.output


def test_python_snippets_run_as_written(broker: MosquittoProcess, tmp_path: Path) -> None:
    programs = [p.replace(_DOC_BROKER, broker.url) for p in blocks("python")]
    server_code = next(p for p in programs if "run(config)" in p)
    (tmp_path / "serve.py").write_text(server_code)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "serve.py"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Wait for the card here, so a slow start on a busy machine is not the snippet's
        # five-second discovery window.
        asyncio.run(wait_online(broker.url, "acme/plant-a/echo", timeout=60))
        for index, code in enumerate(p for p in programs if p is not server_code):
            path = tmp_path / f"snippet{index}.py"
            path.write_text(code)
            done = subprocess.run([sys.executable, path.name], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, done.stderr[-2000:]
            assert "found acme/plant-a/echo" in done.stdout
            assert "hello" in done.stdout  # the echo artifact came back
        assert server.poll() is None, "the served agent exited early"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output[-2000:]
