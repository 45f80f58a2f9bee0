"""``a2a-mqtt broker --secure`` and ``a2a-mqtt identity`` as a user runs them: every
secret travels through 0600 profile files, never through argv, stderr or logs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from a2a_mqtt.access.credentials import Credentials, load_profile
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.client import A2AMqttClient, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConnectError
from a2a_mqtt.transport import Mqtt5Transport
from a2a_mqtt.transport.base import BrokerURL, ConnectOptions
from tests.behaviour.cli.test_cli import cli

pytestmark = pytest.mark.asyncio


@contextlib.asynccontextmanager
async def secure_broker_cli(state: Path) -> AsyncIterator[tuple[str, list[bytes]]]:
    """``a2a-mqtt broker --secure`` in a subprocess; yields its URL and its stderr lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "broker", "--secure", "--state-dir", str(state),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("mqtts://"), url
        yield url, []
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()


async def test_secure_broker_and_identities_end_to_end(tmp_path: Path) -> None:
    state = tmp_path / "state"
    mine = tmp_path / "mine.toml"
    async with secure_broker_cli(state) as (url, _):
        admin = ["--profiles-file", str(state / "profiles.toml"), "--profile", "admin"]
        assert stat.S_IMODE((state / "profiles.toml").stat().st_mode) == 0o600
        outputs = []
        for ref, role in (("acme/line1/press", "agent"), ("acme/line1/op", "requester")):
            code, out, err = await cli("identity", "add", ref, "--role", role, *admin,
                                       "--save-profile", ref.rsplit("/", 1)[1],
                                       "--save-to", str(mine))
            assert code == 0, err
            outputs.append(out + err)
        press, op = load_profile("press", mine), load_profile("op", mine)
        assert press.password and op.password and press.broker == url
        assert stat.S_IMODE(mine.stat().st_mode) == 0o600
        # Saved to a profile: the password appeared nowhere else.
        assert all(press.password not in o and op.password not in o for o in outputs)

        # A one-time issuance to stdout, for scripts that store it themselves.
        code, out, err = await cli("identity", "add", "acme/line1/tmp", "--role", "requester",
                                   *admin)
        assert code == 0, err
        issued = out.split('password = "', 1)[1].split('"', 1)[0]
        assert len(issued) >= 24 and issued not in err

        agent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "a2a_mqtt", "-vv", "example", "echo",
            "--profiles-file", str(mine), "--session-expiry", "0",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "A2A_MQTT_PROFILE": "press"})
        try:
            await _wait_online(op, "acme/line1/press")
            code, out, err = await cli("send", "acme/line1/press", "over TLS", "--profile",
                                       "op", "--profiles-file", str(mine), "--timeout", "20")
            assert code == 0, err
            assert "over TLS" in out
            code, out, err = await cli("identity", "list", *admin, "--json")
            assert code == 0, err
            assert {"acme/line1/press", "acme/line1/op"} <= set(out.split('"'))
            assert press.password not in out

            code, _, err = await cli("identity", "remove", "acme/line1/op", *admin)
            assert code == 0, err
            with pytest.raises(ConnectError):
                await Mqtt5Transport(ConnectOptions(
                    url=BrokerURL.parse(url), client_id="acme/line1/op", username="acme/line1/op",
                    password=op.password, tls=load_profile("op", mine).tls())).connect()
        finally:
            agent.terminate()
            _, agent_log = await asyncio.wait_for(agent.communicate(), 20)
        # Debug logging of a whole agent session never shows its password.
        assert b"acme/line1/press" in agent_log
        assert press.password.encode() not in agent_log
    assert press.password not in (state / "mosquitto.log").read_text()


async def _wait_online(viewer: Credentials, ref: str) -> None:
    """Until the agent's retained online card is visible to ``viewer``."""
    assert viewer.client_id is not None and viewer.broker is not None
    me = AgentRef.parse(viewer.client_id)
    config = RequesterConfig(connection=ConnectionSettings(url=viewer.broker,
                                                           username=viewer.username,
                                                           password=viewer.password,
                                                           tls=viewer.tls()), org=me.org,
                                                           unit=me.unit,
                             requester_id=me.name)
    async with A2AMqttClient(config) as client:
        async with asyncio.timeout(30):
            async for event in client.discovery.watch():
                if str(event.entry.ref) == ref and event.entry.online:
                    return


async def test_identity_commands_need_an_admin_login(tmp_path: Path) -> None:
    async with secure_broker_cli(tmp_path / "state") as (url, _):
        code, _, err = await cli("identity", "list", "--broker", url)
        assert code != 0 and "admin" in err


async def test_export_formats(tmp_path: Path) -> None:
    ids = tmp_path / "ids.toml"
    ids.write_text('[[identity]]\nref = "acme/line1/press"\nrole = "agent"\n'
                   '[[identity]]\nref = "acme/line1/op"\nrole = "requester"\n'
                   'grants = ["globex/hq"]\n')
    code, out, err = await cli("identity", "export", str(ids), "--format", "mosquitto-acl")
    assert code == 0, err
    assert "user acme/line1/press\ntopic write $a2a/v1/discovery/acme/line1/press" in out
    code, out, _ = await cli("identity", "export", str(ids), "--format", "emqx-acl")
    assert code == 0 and out.rstrip().endswith("{deny, all}.")
    ids.write_text('[[identity]]\nref = "acme/line1"\nrole = "agent"\n')
    code, _, err = await cli("identity", "export", str(ids), "--format", "emqx-json")
    assert code != 0 and "identity #1" in err
