"""The curl calls of docs/gateway.md ("Calling it with curl") work as written.

Every ```bash block of that section whose command is ``curl`` is run by bash
with the real curl binary (scripts/bootstrap --tests installs it) against a real
gateway in front of the echo agent on a test broker. The only edit: the
documented gateway address becomes the test gateway's. Each answer is checked
by what the call is: JSON-RPC, the missing version, REST, or SSE.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.broker import MosquittoProcess
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from tests.behaviour.conftest import serve
from tests.behaviour.gateway.conftest import known, open_gateway

GATEWAY_MD = Path(__file__).resolve().parents[3] / "docs" / "gateway.md"
_DOC_GATEWAY = "http://127.0.0.1:8080"
_AGENT = AgentRef.parse("demo/examples/echo")


def curl_blocks() -> list[str]:
    text = GATEWAY_MD.read_text()
    section = text.split("## Calling it with curl\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return [b for b in blocks if b.startswith("curl ")]


def completed_text(task: dict[str, Any]) -> str:
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
    return " ".join(p["text"] for a in task["artifacts"] for p in a["parts"])


def sse_events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data:")) for line in body.splitlines()
            if line.startswith("data:")]


def test_the_section_has_every_kind_of_call() -> None:
    blocks = curl_blocks()
    assert len(blocks) == 6
    assert sum("A2A-Version: 1.0" not in b for b in blocks) == 1
    assert sum("curl -sS -N " in b for b in blocks) == 2
    assert any("/rest/message:send" in b for b in blocks)


@pytest.mark.asyncio
async def test_the_curl_calls_work(broker: MosquittoProcess) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is missing: run ./scripts/bootstrap --tests"
    async with serve(broker.url, _AGENT, EchoExecutor(), echo_card()), \
            open_gateway(broker.url) as gateway:
        await known(gateway, _AGENT)
        for block in curl_blocks():
            command = block.replace(_DOC_GATEWAY, gateway.url)
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", command, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, (block, err.decode())
            body = out.decode()
            sent = re.search(r'"text": "([^"]+)"', block)
            if "A2A-Version: 1.0" not in block:
                error = json.loads(body)["error"]
                assert error["code"] == -32009, body
                assert error["data"][0]["reason"] == "VERSION_NOT_SUPPORTED"
            elif " -N " in block:
                events = sse_events(body)
                assert sent is not None and len(events) == 4, body
                events = [e.get("result", e) for e in events]  # JSON-RPC wraps each event
                assert events[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
                assert events[2]["artifactUpdate"]["artifact"]["parts"][0]["text"] \
                    == sent.group(1)
                assert events[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
            elif "/rest/tasks" in block:
                listed = json.loads(body)["tasks"]
                assert listed and all(t["status"]["state"] == "TASK_STATE_COMPLETED"
                                      for t in listed)
            else:
                answer = json.loads(body)
                task = answer["result"]["task"] if "jsonrpc" in answer else answer["task"]
                assert sent is not None and completed_text(task) == sent.group(1)
