"""``a2a-mqtt send --token`` / ``A2A_MQTT_TOKEN`` and ``tasks ... --token`` against an agent
that verifies bearer tokens (real broker, real JWKS over HTTPS, a CLI process per call)."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.security.authz import declare_bearer
from tests.behaviour.cli.test_cli import cli
from tests.behaviour.conftest import serve
from tests.behaviour.security.conftest import ISSUER, Issuer, Observer, bearer_agent

pytestmark = pytest.mark.asyncio


async def test_send_without_a_token_is_refused_and_with_one_is_served(
        broker: MosquittoProcess, ref: AgentRef, issuer: Issuer, observer: Observer) -> None:
    token = issuer.tokens.issue(subject="cli", audience=str(ref), scopes=["echo:run"])
    secret = token.rsplit(".", 1)[1]
    async with serve(broker.url, ref, EchoExecutor(),
                     declare_bearer(echo_card(), scopes=("echo:run",)),
                     **bearer_agent(issuer, ref)):
        code, out, err = await cli("send", str(ref), "hi", "--broker", broker.url)
        assert code == 1 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "no bearer token" in lines[0], err
        assert lines[0].startswith("Error: UnauthenticatedError:"), err  # -32010

        code, out, err = await cli("send", str(ref), "hi", "--broker", broker.url, "--json",
                                   "--token", token)
        assert code == 0, err
        task = json.loads(out)["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"

        # The environment variable works the same, and so do the tasks commands.
        env = {"A2A_MQTT_TOKEN": token}
        code, out, err = await cli("tasks", "get", str(ref), task["id"], "--broker", broker.url,
                                   "--json", env=env)
        assert code == 0, err
        assert json.loads(out)["id"] == task["id"]
        code, _, err = await cli("tasks", "get", str(ref), task["id"], "--broker", broker.url)
        assert code == 1 and "no bearer token" in err

        code, out, err = await cli("send", str(ref), "bad", "--broker", broker.url,
                                   "--token", token[:-4] + "AAAA")
        assert code == 1 and len(err.strip().splitlines()) == 1
        assert secret[:-4] not in err and secret[:-4] not in out  # never echoed
        code, out, err = await cli("send", str(ref), "bad", "--broker", broker.url,
                                   "--token", "two words")
        assert code == 2 and "two words" not in err and "words" not in err
    # The token rode as the binding's a2a-authorization User Property.
    sent = {m.properties.user_property("a2a-authorization") for m in observer.messages
            if m.topic.startswith("$a2a/v1/request/")}
    assert f"Bearer {token}" in sent


async def test_example_flags_require_tokens_and_sign_the_card(
        broker: MosquittoProcess, ref: AgentRef, issuer: Issuer, tmp_path: Path) -> None:
    keys = tmp_path / "card-keys.json"
    code, kid, err = await cli("card", "keygen", str(keys))
    assert code == 0, err
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "a2a_mqtt", "example", "echo", "--agent", str(ref),
        "--broker", broker.url, "--session-expiry", "0",
        "--require-token-from", issuer.jwks_url, "--token-issuer", ISSUER,
        "--token-ca", str(issuer.ca.cert_file), "--token-scope", "echo:run",
        "--sign-card", str(keys), stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert b"serving" in line, line
        code, out, err = await cli("agents", "show", str(ref), "--broker", broker.url, "--json")
        assert code == 0, err
        card = json.loads(out)["card"]
        assert "bearer" in card["securitySchemes"]
        protected = card["signatures"][0]["protected"]
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        assert header["kid"] == kid.strip()  # signed with the --sign-card key
        code, _, err = await cli("send", str(ref), "hi", "--broker", broker.url)
        assert code == 1 and "UnauthenticatedError" in err
        token = issuer.tokens.issue(subject="cli", audience=str(ref), scopes=["echo:run"])
        code, out, err = await cli("send", str(ref), "hi", "--broker", broker.url, "--json",
                                   env={"A2A_MQTT_TOKEN": token})
        assert code == 0, err
        assert json.loads(out)["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        weak = issuer.tokens.issue(subject="cli", audience=str(ref), scopes=["other"])
        code, _, err = await cli("send", str(ref), "hi", "--broker", broker.url,
                                 env={"A2A_MQTT_TOKEN": weak})
        assert code == 1 and "PermissionDeniedError" in err, err
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 30)


async def test_token_options_need_their_anchor() -> None:
    code, _, err = await cli("example", "echo", "--token-issuer", "https://x")
    assert code == 2 and "need --require-token-from" in err
    code, _, err = await cli("example", "echo", "--require-token-from", "https://x/jwks")
    assert code == 2 and "needs --token-issuer" in err
