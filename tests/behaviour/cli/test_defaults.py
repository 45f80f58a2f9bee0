"""Where commands connect without --broker, and how expected failures read: one line."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from a2a_mqtt.access.credentials import Credentials, save_profile
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.cli.connection import DEFAULT_BROKER
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.registry.client import RegistryClient
from tests.behaviour.cli.test_cli import as_json, cli
from tests.behaviour.conftest import serve
from tests.behaviour.registry.conftest import start_registry

pytestmark = pytest.mark.asyncio


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_broker_announces_its_url_to_the_other_commands(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    env = {"XDG_RUNTIME_DIR": str(runtime), "A2A_MQTT_BROKER": ""}
    state = runtime / "a2a-mqtt" / "broker"
    # No broker announced: the default is named, never used silently. (The bad
    # --metadata stops the command before it connects: :1883 is not ours to use.)
    code, _, err = await cli("send", "a/b/c", "x", "--metadata", "[1]", env=env)
    assert code == 2 and err.startswith(f"note: using broker {DEFAULT_BROKER} (default; "
                                        "start one with `a2a-mqtt broker`)")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "broker", "--state-dir", str(tmp_path / "b"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**__import__("os").environ, **env})
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert state.read_text().splitlines()[0] == url  # written before the URL is printed
        code, out, err = await cli("agents", "list", "--json", env=env)
        assert code == 0 and as_json(out) == [] and err == "", err
        # A failure says which broker it used and where that came from.
        code, _, err = await cli("agents", "show", "x/y/nobody", env=env)
        assert code == 1 and f"[broker {url} (from {state})]" in err
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0 and not state.exists()


@pytest.mark.parametrize("command", [["gateway"], ["registry", "serve"]])
async def test_a_port_clash_is_one_line(broker: MosquittoProcess, taken_port: int,
                                        command: list[str]) -> None:
    code, out, err = await cli(*command, "--port", str(taken_port), "--broker", broker.url)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert f"127.0.0.1:{taken_port}" in err and "in use" in err and broker.url in err


async def test_bad_config_and_a_gone_broker_are_one_line(tmp_path: Path) -> None:
    for args in (["agents", "list", "--broker", "mqtt://127.0.0.1:1"],
                 ["send", "a/b/c", "x", "--broker", "mqtt://127.0.0.1:1"],
                 ["agents", "list", "--broker", "nope://x"],
                 ["agents", "list", "--profile", "missing",
                  "--profiles-file", str(tmp_path / "none.toml")],
                 ["send", "a/b/c", "x", "--broker", "mqtt://127.0.0.1:1",
                  "--metadata", "[1]"]):
        code, _, err = await cli(*args)
        assert code in (1, 2) and "Traceback" not in err, (args, err)
        assert len([ln for ln in err.splitlines() if ln.startswith("Error")]) == 1, (args, err)


async def test_a_profile_names_broker_credentials_and_registry(
        broker: MosquittoProcess, ref: AgentRef, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.toml"
    async with serve(broker.url, ref, EchoExecutor(), echo_card()), \
            start_registry(broker.url) as registry:
        # The profile's broker is unreachable: only its registry can answer agents list.
        save_profile("plant", Credentials(broker="mqtt://127.0.0.1:1", username="ops",
                                          password="s3cret-pw", registry=registry.url),
                     profiles)
        env = {"A2A_MQTT_PROFILES": str(profiles)}
        async with RegistryClient(registry.url) as client:
            await client.resolve(ref, timeout=30)  # indexed before the CLI asks
        code, out, err = await cli("agents", "list", "--profile", "plant", "--json", env=env)
        assert code == 0, err
        assert [a["ref"] for a in as_json(out)] == [str(ref)]
        code, out, err = await cli("agents", "show", str(ref), "--json", env={
            **env, "A2A_MQTT_PROFILE": "plant"})
        assert code == 0 and as_json(out)["card"]["name"] == "Echo", err
        # --registry wins over the profile's.
        code, _, err = await cli("agents", "list", "--profile", "plant", "--registry",
                                 "http://127.0.0.1:9", env=env)
        assert code == 1 and "unreachable" in err and "s3cret-pw" not in err

