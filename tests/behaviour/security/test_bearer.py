"""Bearer tokens per request: a2a-sdk's AuthInterceptor in, JWKS-verified JWTs at the agent.

Everything is real: Mosquitto, the issuer's JWKS over HTTPS (a CA made for the
test), ES256 tokens from the local issuer, a2a-sdk's own Client and interceptor.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from a2a.client import Client, ClientCallContext
from a2a.client.auth import AuthInterceptor, CredentialService
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState
from a2a.utils.errors import InvalidParamsError
from joserfc import jwt

from a2a_mqtt.access.ca import LocalCA
from a2a_mqtt.binding.codes import BindingError, PermissionDeniedError, UnauthenticatedError
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.client import A2AMqttClient
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor
from a2a_mqtt.security.bearer import BearerConfig, BearerVerifier, TokenRejected
from a2a_mqtt.security.issuer import TokenIssuer
from a2a_mqtt.security.keys import new_signing_key
from a2a_mqtt.server import AgentServer
from tests.behaviour.conftest import requester_config, serve
from tests.behaviour.security.conftest import (
    ISSUER,
    Issuer,
    Observer,
    bearer_agent,
    guarded_card,
)

pytestmark = pytest.mark.asyncio

DONE = TaskState.TASK_STATE_COMPLETED


class Credentials(CredentialService):
    """Hands a2a-sdk's AuthInterceptor whatever token the test sets."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.asked: list[str] = []

    async def get_credentials(self, security_scheme_name: str,
                              context: ClientCallContext | None) -> str | None:
        self.asked.append(security_scheme_name)
        return self.token


def request(body: str, skill: str | None = "echo") -> SendMessageRequest:
    msg = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=body)])
    if skill is not None:
        msg.metadata.update({"skillId": skill})
    return SendMessageRequest(message=msg)


async def send(client: Client, req: SendMessageRequest) -> TaskState.ValueType:
    events = [e async for e in client.send_message(req)]
    return events[-1].task.status.state


@pytest_asyncio.fixture
async def guarded(broker: MosquittoProcess, issuer: Issuer, ref: AgentRef
                  ) -> AsyncIterator[AgentServer]:
    async with serve(broker.url, ref, EchoExecutor(), guarded_card(),
                     **bearer_agent(issuer, ref, min_refetch=0.0)) as server:
        yield server


@pytest_asyncio.fixture
async def caller(broker: MosquittoProcess) -> AsyncIterator[tuple[A2AMqttClient, Credentials]]:
    async with A2AMqttClient(requester_config(broker.url)) as mqtt:
        yield mqtt, Credentials()


def client_for(mqtt: A2AMqttClient, server: AgentServer, creds: Credentials) -> Client:
    return mqtt.client_for(server.card, streaming=False,
                           interceptors=[AuthInterceptor(creds)])


async def test_valid_token_is_served_and_never_echoed_or_logged(
        guarded: AgentServer, issuer: Issuer, caller: tuple[A2AMqttClient, Credentials],
        observer: Observer, caplog: pytest.LogCaptureFixture, ref: AgentRef) -> None:
    mqtt, creds = caller
    creds.token = issuer.tokens.issue(subject="alice", audience=str(ref), scopes=["echo:run"])
    caplog.set_level(logging.DEBUG)
    state = await send(client_for(mqtt, guarded, creds), request("hello"))
    assert state == DONE
    assert creds.asked == ["bearer"]  # the interceptor asked for the card's scheme
    # The token rode on the request only: in the a2a-authorization property...
    requests = await observer.on("$a2a/v1/request/")
    assert requests[0].properties.user_property("a2a-authorization") == (
        f"Bearer {creds.token}")
    # ...and nowhere in any reply (payload or properties), nor in any log line.
    replies = await observer.replies_to(requests[:1])
    signature = creds.token.rsplit(".", 1)[1]
    for reply in replies:
        assert signature.encode() not in reply.payload  # JSON or binary (§3.4)
        assert all(signature not in v for _, v in reply.properties.user_properties)
    assert signature not in caplog.text


def _with_issuer_name(issuer: Issuer, tmp: Path, name: str) -> TokenIssuer:
    """Same keys (so the JWKS has them), another ``iss``."""
    shutil.copytree(issuer.directory, tmp)
    meta = json.loads((tmp / "issuer.json").read_text())
    (tmp / "issuer.json").write_text(json.dumps({**meta, "issuer": name}))
    return TokenIssuer(tmp)


def _forged(issuer: Issuer, audience: str) -> str:
    """Signed by a key that claims the issuer's active kid: the signature cannot verify."""
    impostor = new_signing_key(kid=issuer.tokens.active_kid)
    claims = {"iss": ISSUER, "aud": audience, "sub": "mallory", "scope": "echo:run",
              "exp": 4_000_000_000}
    return jwt.encode({"alg": "ES256", "kid": impostor.kid}, claims, impostor)


def _unknown_kid(audience: str, tmp: Path) -> str:
    other = TokenIssuer.create(tmp, issuer=ISSUER)  # same iss, keys never published
    return other.issue(subject="mallory", audience=audience, scopes=["echo:run"])


@pytest.mark.parametrize(("case", "error", "reason"), [
    ("expired", UnauthenticatedError, "token expired"),
    ("not yet valid", UnauthenticatedError, "not yet valid"),
    ("wrong audience", UnauthenticatedError, "aud"),
    ("wrong issuer", UnauthenticatedError, "iss"),
    ("bad signature", UnauthenticatedError, "bad token signature"),
    ("unknown kid", UnauthenticatedError, "unknown signing key"),
    ("not a JWT", UnauthenticatedError, "not a compact JWS"),
    ("no token", UnauthenticatedError, "no bearer token"),
    ("missing skill scope", PermissionDeniedError, "echo:run"),
    ("other skill's scope", PermissionDeniedError, "echo:admin"),
])
async def test_refusals_get_their_defined_error(
        guarded: AgentServer, issuer: Issuer, caller: tuple[A2AMqttClient, Credentials],
        ref: AgentRef, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        case: str, error: type[BindingError], reason: str) -> None:
    mqtt, creds = caller
    aud = str(ref)
    skill = "echo"
    match case:
        case "expired":
            creds.token = issuer.tokens.issue(subject="a", audience=aud, scopes=["echo:run"],
                                              ttl=-120)  # beyond the 30 s leeway
        case "not yet valid":
            creds.token = issuer.tokens.issue(subject="a", audience=aud, scopes=["echo:run"],
                                              not_before=4_000_000_000)
        case "wrong audience":
            creds.token = issuer.tokens.issue(subject="a", audience="test/unit/other",
                                              scopes=["echo:run"])
        case "wrong issuer":
            creds.token = _with_issuer_name(issuer, tmp_path / "x", "https://evil.test").issue(
                subject="a", audience=aud, scopes=["echo:run"])
        case "bad signature":
            creds.token = _forged(issuer, aud)
        case "unknown kid":
            creds.token = _unknown_kid(aud, tmp_path / "other")
        case "not a JWT":
            creds.token = "not-a-jwt"
        case "no token":
            creds.token = None
        case "missing skill scope":
            creds.token = issuer.tokens.issue(subject="a", audience=aud, scopes=["other"])
        case "other skill's scope":
            creds.token = issuer.tokens.issue(subject="a", audience=aud, scopes=["echo:run"])
            skill = "shout"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(error) as raised:
        await send(client_for(mqtt, guarded, creds), request("hi", skill))
    assert raised.value.kind.code == (-32010 if error is UnauthenticatedError else -32011)
    assert reason in raised.value.message
    if creds.token and len(creds.token) > 20:
        secret = creds.token.rsplit(".", 1)[1]
        assert secret not in raised.value.message and secret not in caplog.text


async def test_unnamed_skill_is_refused_when_skills_differ(
        guarded: AgentServer, issuer: Issuer, caller: tuple[A2AMqttClient, Credentials],
        ref: AgentRef) -> None:
    mqtt, creds = caller
    creds.token = issuer.tokens.issue(subject="a", audience=str(ref), scopes=["echo:run"])
    with pytest.raises(InvalidParamsError, match="skillId"):
        await send(client_for(mqtt, guarded, creds), request("hi", skill=None))


async def test_rotation_is_picked_up_and_unknown_kids_are_rate_limited(
        broker: MosquittoProcess, issuer: Issuer, caller: tuple[A2AMqttClient, Credentials],
        ref: AgentRef, tmp_path: Path) -> None:
    mqtt, creds = caller
    async with serve(broker.url, ref, EchoExecutor(), guarded_card(),
                     **bearer_agent(issuer, ref, min_refetch=0.0)) as server:
        client = client_for(mqtt, server, creds)
        creds.token = issuer.tokens.issue(subject="a", audience=str(ref), scopes=["echo:run"])
        assert await send(client, request("before")) == DONE
        fetched = issuer.server.requests
        new_kid = issuer.tokens.rotate()
        creds.token = issuer.tokens.issue(subject="a", audience=str(ref), scopes=["echo:run"])
        assert jwt.decode(creds.token, issuer.tokens._keys()[-1]).header["kid"] == new_kid
        assert await send(client, request("after")) == DONE
        assert issuer.server.requests == fetched + 1  # re-fetched for the unknown kid
    # With the default rate limit, made-up kids cost the issuer at most one fetch.
    async with serve(broker.url, ref, EchoExecutor(), guarded_card(),
                     **bearer_agent(issuer, ref, min_refetch=60.0)) as server:
        client = client_for(mqtt, server, creds)
        creds.token = issuer.tokens.issue(subject="a", audience=str(ref), scopes=["echo:run"])
        assert await send(client, request("warm")) == DONE
        fetched = issuer.server.requests
        for i in range(5):
            creds.token = _unknown_kid(str(ref), tmp_path / f"flood{i}")
            with pytest.raises(UnauthenticatedError):
                await send(client, request("flood"))
        assert issuer.server.requests <= fetched + 1


async def test_jwks_is_only_trusted_over_verified_https(issuer: Issuer, tmp_path: Path) -> None:
    token = issuer.tokens.issue(subject="a", audience="o/u/a", scopes=["x"])
    good = BearerVerifier(issuer.config("o/u/a"))
    assert (await good.verify(f"Bearer {token}")).subject == "a"
    # The same server, but the verifier trusts another CA: the keys are never used.
    stranger = LocalCA(directory=tmp_path / "stranger")
    config = BearerConfig(issuer=ISSUER, audience="o/u/a", jwks_url=issuer.jwks_url,
                          ca_file=stranger.cert_file)
    with pytest.raises(TokenRejected, match="issuer keys unavailable"):
        await BearerVerifier(config).verify(f"Bearer {token}")
    with pytest.raises(ConfigError, match="https"):
        BearerConfig(issuer=ISSUER, audience="o/u/a",
                     jwks_url=issuer.jwks_url.replace("https://", "http://"))
