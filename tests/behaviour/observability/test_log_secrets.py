"""Real services, JSON logs at DEBUG: credentials given in URLs and tokens never appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConnectError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.gateway import GatewayConfig, GatewayServer
from a2a_mqtt.observability.logs import configure_logging
from a2a_mqtt.server import AgentConfig, AgentServer
from tests.behaviour.gateway.conftest import known

pytestmark = pytest.mark.asyncio

PASSWORD = "Pw-9f2c81d7e3"
TOKEN = "tok.Zx81Qm4NvBq7"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    handler = configure_logging(logging.DEBUG, "json")
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        root.setLevel(level)


async def test_credentials_never_reach_the_log(broker: MosquittoProcess, ref: AgentRef,
                                               json_log: io.StringIO) -> None:
    url = broker.url.replace("mqtt://", f"mqtt://svc:{PASSWORD}@")
    agent = AgentConfig(ref=ref, card=echo_card(), executor=EchoExecutor(),
                        connection=ConnectionSettings(url=url), session_expiry=0)
    async with (AgentServer(agent), GatewayServer(GatewayConfig(
            connection=ConnectionSettings(url=url), port=0, shutdown_grace=1.0)) as gw,
            httpx.AsyncClient(timeout=10) as http):
        await known(gw, ref)
        r = await http.post(f"{gw.url}/{ref}", headers={
            "A2A-Version": "1.0", "Authorization": f"Bearer {TOKEN}"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}})
        assert r.status_code == 200
    # A connection failure names the URL it tried.
    bad = AgentConfig(ref=AgentRef(ref.org, ref.unit, ref.name + "x"), card=echo_card(),
                      executor=EchoExecutor(), session_expiry=0,
                      connection=ConnectionSettings(url=f"mqtt://svc:{PASSWORD}@127.0.0.1:1"))
    with pytest.raises(ConnectError) as failed:
        async with AgentServer(bad):
            pass
    logging.getLogger("a2a_mqtt.test").warning("connect failed: %s", failed.value)

    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) > 10  # DEBUG from real services: there is something to search
    assert any("serving on" in line["message"] for line in lines)
    assert PASSWORD not in text and TOKEN not in text
    assert PASSWORD not in str(failed.value)
