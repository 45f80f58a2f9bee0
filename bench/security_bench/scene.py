"""Every variant's broker, agent and requester, in one ``AsyncExitStack``.

All agents run ``BenchExecutor``; requests are unary SendMessage through
``Requester.call`` (QoS 1), the answer checked to be a completed task.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from a2a_mqtt.access import Identity
from a2a_mqtt.access.ca import LocalCA
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess, SecureBroker, SecureBrokerConfig
from a2a_mqtt.broker.config import free_port
from a2a_mqtt.client import Requester, RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.security.authz import BearerAuthorizer, declare_bearer
from a2a_mqtt.security.bearer import BearerConfig, BearerVerifier
from a2a_mqtt.security.e2e import E2EContext
from a2a_mqtt.security.issuer import TokenIssuer
from a2a_mqtt.security.jwks_server import JwksServer, JwksServerConfig
from a2a_mqtt.security.keys import new_encryption_key
from a2a_mqtt.server import AgentConfig, AgentServer
from a2a_mqtt.transport.base import TLSConfig
from harness.agent import BENCH_TEXT, BenchExecutor, bench_card

VARIANTS = ("plain", "tls", "tls+acl", "tls+bearer", "ubsp-v1")
ISSUER = "https://issuer.bench.test"
#: tls+acl: identities the SecureBroker binds to Client IDs and ACLs.
ACL_AGENT = Identity.parse("bench/secure/echo", "agent")
ACL_CALLER = Identity.parse("bench/secure/caller", "requester")


def _params() -> dict[str, Any]:
    return {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                        "parts": [{"text": BENCH_TEXT}], "taskId": str(uuid.uuid4()),
                        "contextId": str(uuid.uuid4())}}


class Variant:
    def __init__(self, name: str, requester: Requester, agent: AgentRef,
                 service_params: dict[str, str] | None) -> None:
        self.name = name
        self.requester = requester
        self.agent = agent
        self.service_params = service_params

    async def one(self) -> None:
        result = await self.requester.call(self.agent, "SendMessage", _params(),
                                           service_params=self.service_params)
        if result["task"]["status"]["state"] != "TASK_STATE_COMPLETED":
            raise RuntimeError(f"{self.name}: unexpected result {result}")


@asynccontextmanager
async def scene(tmp: Path, names: Sequence[str]) -> AsyncIterator[list[Variant]]:
    """One Mosquitto with a plain and a TLS listener for plain, tls, tls+bearer and
    ubsp-v1; a ``SecureBroker`` (TLS, logins, dynamic-security ACLs, Client ID
    binding) for tls+acl. Yields the requested ``names``' variants, connected."""
    ca = LocalCA(directory=tmp / "ca")
    hosts = ("localhost", "127.0.0.1")
    broker_cert = ca.issue_server(directory=tmp / "ca" / "broker", hosts=hosts)
    jwks_cert = ca.issue_server(directory=tmp / "ca" / "jwks", hosts=hosts)
    tls_port = free_port()
    broker = MosquittoProcess(config=BrokerConfig(
        state_dir=tmp / "broker", tls_port=tls_port, tls_certfile=broker_cert.cert_file,
        tls_keyfile=broker_cert.key_file))
    broker.start()
    plain_url, tls_url = broker.url, f"mqtts://127.0.0.1:{tls_port}"
    tls = TLSConfig(ca_file=str(ca.cert_file))
    issuer = TokenIssuer.create(tmp / "issuer", issuer=ISSUER)
    run = uuid.uuid4().hex[:6]
    refs = {v: AgentRef("bench", "security", f"{v.replace('+', '-')}-{run}") for v in VARIANTS}
    try:
        async with AsyncExitStack() as stack:
            jwks = await stack.enter_async_context(JwksServer(JwksServerConfig(
                issuer_dir=tmp / "issuer", cert_file=jwks_cert.cert_file,
                key_file=jwks_cert.key_file)))
            bearer_ref = refs["tls+bearer"]
            verifier = BearerVerifier(BearerConfig(
                issuer=ISSUER, audience=str(bearer_ref), jwks_url=jwks.jwks_url,
                ca_file=ca.cert_file))
            agent_e2e = E2EContext(identity=str(refs["ubsp-v1"]), key=new_encryption_key())
            agents = {
                "plain": AgentConfig(ref=refs["plain"], card=bench_card(),
                                     executor=BenchExecutor(),
                                     connection=ConnectionSettings(url=plain_url)),
                "tls": AgentConfig(ref=refs["tls"], card=bench_card(), executor=BenchExecutor(),
                                   connection=ConnectionSettings(url=tls_url, tls=tls)),
                "tls+bearer": AgentConfig(
                    ref=bearer_ref, card=declare_bearer(bench_card(),
                                                        skill_scopes={"echo": ["echo:run"]}),
                    executor=BenchExecutor(), connection=ConnectionSettings(url=tls_url,
                                                                            tls=tls),
                                                                            authorizer=BearerAuthorizer(verifier)),
                "ubsp-v1": AgentConfig(ref=refs["ubsp-v1"], card=bench_card(),
                                       executor=BenchExecutor(),
                                       connection=ConnectionSettings(url=plain_url),
                                       e2e=agent_e2e),
            }
            secure = await stack.enter_async_context(
                SecureBroker(SecureBrokerConfig(identities=(ACL_AGENT, ACL_CALLER)))
            )
            agent_cred, caller_cred = (
                secure.credentials(ACL_AGENT), secure.credentials(ACL_CALLER))
            agents["tls+acl"] = AgentConfig(
                ref=ACL_AGENT.ref, card=bench_card(), executor=BenchExecutor(),
                connection=ConnectionSettings(
                    url=secure.url, username=agent_cred.username,
                    password=agent_cred.password, tls=agent_cred.tls()))
            refs["tls+acl"] = AgentRef.parse(str(ACL_AGENT.ref))
            servers = {}
            for name, cfg in agents.items():
                if name not in names:
                    continue
                servers[name] = await stack.enter_async_context(
                    AgentServer(_with(cfg, session_expiry=0, watch_broker_drops=False)))
            req_e2e = E2EContext(identity=f"bench/clients/req-{run}", key=new_encryption_key())
            if "ubsp-v1" in servers:
                req_e2e.learn(str(refs["ubsp-v1"]), servers["ubsp-v1"].card)
            common = {"org": "bench", "unit": "clients", "max_attempts": 1,
                      "reply_first_timeout": 30.0}
            requesters = {
                "plain": RequesterConfig(connection=ConnectionSettings(url=plain_url), **common),
                "tls": RequesterConfig(connection=ConnectionSettings(url=tls_url, tls=tls),
                                       **common),
                "tls+bearer": RequesterConfig(connection=ConnectionSettings(url=tls_url, tls=tls),
                                              **common),
                "ubsp-v1": RequesterConfig(connection=ConnectionSettings(url=plain_url),
                                           e2e=req_e2e,
                                           requester_id=f"req-{run}", **common),
            }
            requesters["tls+acl"] = RequesterConfig(
                connection=ConnectionSettings(
                    url=secure.url, username=caller_cred.username,
                    password=caller_cred.password, tls=caller_cred.tls()),
                org=ACL_CALLER.ref.org, unit=ACL_CALLER.ref.unit,
                requester_id=ACL_CALLER.ref.name, max_attempts=1, reply_first_timeout=30.0)
            token = issuer.issue(subject="bench", audience=str(bearer_ref),
                                 scopes=["echo:run"], ttl=3600)
            variants = []
            for name in names:
                requester = await stack.enter_async_context(Requester(requesters[name]))
                sp = {"Authorization": f"Bearer {token}"} if name == "tls+bearer" else None
                variants.append(Variant(name, requester, refs[name], sp))
            yield variants
    finally:
        broker.stop()


def _with(cfg: AgentConfig, **changes: Any) -> AgentConfig:
    return replace(cfg, **changes)
