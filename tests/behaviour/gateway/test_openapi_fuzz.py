"""schemathesis over the gateway's OpenAPI description, against real processes.

Mosquitto (fixture), the showcase agent (``a2a-mqtt gateway showcase``) and the
gateway (``a2a-mqtt gateway``) each run in their own process, so this test is
synchronous as schemathesis is. Its cases are positive and negative (schema-
violating) ones for every operation of ``GET /openapi.json``, all aimed at the
live agent; each answer must keep the rule of ``hostile.judge``: never 5xx, the
standard error in the binding's shape, malformed JSON-RPC never 2xx.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import BrokerConfig, MosquittoProcess
from a2a_mqtt.gateway.openapi import openapi_document
from tests.behaviour.gateway.hostile import MAX_BODY, Answer, Hostile, judge

schema = schemathesis.openapi.from_dict(openapi_document())
CLI = [sys.executable, "-m", "a2a_mqtt.cli.main", "gateway"]


class Stack:
    """The agent and the gateway as child processes; ``url`` is the gateway's."""

    def __init__(self, broker: MosquittoProcess, ref: AgentRef) -> None:
        self.ref = ref
        self.agent = subprocess.Popen([*CLI, "showcase", "--broker", broker.url,
                                       "--agent", str(ref)], stderr=subprocess.DEVNULL)
        self.gateway = subprocess.Popen([*CLI, "--broker", broker.url, "--port", "0",
                                         "--max-body", str(MAX_BODY)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
        assert self.gateway.stdout is not None
        self.url = self.gateway.stdout.readline().strip()
        assert self.url.startswith("http://"), self.url
        # Another process learns the card by discovery: poll /healthz, bounded.
        deadline = time.monotonic() + 20
        while httpx.get(f"{self.url}/healthz").json()["agents"] != 1:
            assert time.monotonic() < deadline, "the gateway never saw the agent"
            time.sleep(0.05)

    def close(self) -> list[int]:
        codes = []
        for proc in (self.gateway, self.agent):
            proc.terminate()
            codes.append(proc.wait(timeout=20))
        assert self.gateway.stdout is not None
        self.gateway.stdout.close()
        return codes


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for every operation (starting three processes per case would take minutes)."""
    broker = MosquittoProcess(config=BrokerConfig(state_dir=tmp_path_factory.mktemp("broker")))
    broker.start()
    try:
        live = Stack(broker, AgentRef("test", "openapi", f"fuzz-{secrets.token_hex(3)}"))
        try:
            yield live
        finally:
            assert live.close() == [0, 0]  # both stop cleanly after the fuzz
    finally:
        broker.stop()


def test_the_served_document_is_the_one_fuzzed(stack: Stack) -> None:
    served = httpx.get(f"{stack.url}/openapi.json")
    assert served.status_code == 200 and served.json() == openapi_document()


@schema.parametrize()
# Generated cases only: schemathesis's coverage phase adds hundreds of boundary cases per
# operation (minutes); the hostile strategies in test_hostile.py cover those families.
@settings(derandomize=True, max_examples=20, deadline=None, database=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
def test_openapi_operations_keep_the_error_rule(case: Any, stack: Stack) -> None:
    if case.path_parameters is not None and "org" in case.path_parameters:
        case.path_parameters.update(org=stack.ref.org, unit=stack.ref.unit,
                                    agent=stack.ref.name)
    response = case.call(base_url=stack.url, timeout=20)
    below = case.formatted_path.removeprefix(f"/{stack.ref}") if case.path_parameters else ""
    request = Hostile(family="schemathesis", surface="openapi", method=case.method.upper(),
                      path=below or "/", malformed=False, raw_path=not case.path_parameters)
    if case.path == "/healthz":
        assert response.status_code == 200
        return
    content_type = response.headers.get("content-type") or [""]  # schemathesis: value lists
    answer = Answer(response.status_code, content_type[0], response.content)
    assert judge(request, answer) is None, (case.method, case.formatted_path, case.body,
                                            response.status_code, response.text[:300])
