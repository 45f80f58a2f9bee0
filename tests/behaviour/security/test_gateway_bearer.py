"""The HTTP gateway passes ``Authorization`` through to ``a2a-authorization``; the agent's
refusals come back as 401 / 403 with the binding's codes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import EchoExecutor
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import agent_url, known, open_gateway
from tests.behaviour.security.conftest import Issuer, bearer_agent, guarded_card

pytestmark = pytest.mark.asyncio


def _rpc(skill: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
        "messageId": f"m-{skill}", "role": "ROLE_USER", "parts": [{"text": "via http"}],
        "metadata": {"skillId": skill}}}}


async def test_gateway_forwards_the_bearer_and_maps_refusals(
        broker: MosquittoProcess, issuer: Issuer, ref: AgentRef) -> None:
    token = issuer.tokens.issue(subject="web", audience=str(ref), scopes=["echo:run"])
    async with (serve(broker.url, ref, EchoExecutor(), guarded_card(),
                      **bearer_agent(issuer, ref)),
                open_gateway(broker.url) as gw, httpx.AsyncClient(timeout=20.0) as http):
        await known(gw, ref)
        url = agent_url(gw, ref)
        headers = {"A2A-Version": "1.0"}
        ok = await http.post(url, json=_rpc("echo"),
                             headers={**headers, "Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
        assert token not in ok.text
        missing = await http.post(url, json=_rpc("echo"), headers=headers)
        forbidden = await http.post(url, json=_rpc("shout"),
                                    headers={**headers, "Authorization": f"Bearer {token}"})
    assert "error" in missing.json() and "error" in forbidden.json()
    assert missing.json()["error"]["code"] == -32010
    assert forbidden.json()["error"]["code"] == -32011
    assert token.rsplit(".", 1)[1] not in forbidden.text
