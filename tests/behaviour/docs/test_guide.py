"""docs/guide.md's examples run as written against a real broker, and the guide quotes them.

* ``examples/01_agent.py`` serves until SIGINT; 02 (call), 03 (pool) and 04 (HTTP)
  run to completion against it, each checked by its output. Every file is run
  as a user runs it: ``python examples/NN_name.py --broker URL``.
* Every ```python block of the guide is a verbatim excerpt of one example file,
  and the guide links every file: the guide cannot drift from code that runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from a2a_mqtt.broker import MosquittoProcess

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "guide.md"
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
# As the guide sets up: a2a-sdk's spans off; no broker from the environment.
_ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("A2A_MQTT_")},
        "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "false"}


async def run(name: str, *args: str) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, f"examples/{name}", *args, cwd=ROOT, env=_ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    return out.decode().strip().splitlines()


def test_the_guide_quotes_and_links_every_example() -> None:
    guide = GUIDE.read_text()
    assert [p.name for p in EXAMPLES] == ["01_agent.py", "02_call.py", "03_pool.py",
                                          "04_http.py"]
    sources = {p.name: p.read_text() for p in EXAMPLES}
    for name in sources:
        assert f"(../examples/{name})" in guide, name
    blocks = _BLOCK.findall(guide)
    assert len(blocks) >= len(sources)
    for block in blocks:
        assert any(block in source for source in sources.values()), block[:200]


@pytest.mark.asyncio
async def test_the_examples_run(broker: MosquittoProcess) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "examples/01_agent.py", "--broker", broker.url, cwd=ROOT, env=_ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert agent.stdout is not None
        ready = (await asyncio.wait_for(agent.stdout.readline(), 60)).decode().strip()
        assert ready == f"serving guide/examples/shout on {broker.url} (Ctrl-C to stop)"

        call = await run("02_call.py", "--broker", broker.url, "hello, guide")
        assert call[0] == "found    guide/examples/shout (Shout)"
        assert "status   TASK_STATE_WORKING shouting" in call
        assert "artifact shout: HELLO, GUIDE" in call
        assert call[-1] == "status   TASK_STATE_COMPLETED"

        http = await run("04_http.py", "--broker", broker.url, "--port", "0")
        base = http[0].split()[1]
        assert base.startswith("http://127.0.0.1:")
        assert f"card     JSONRPC   {base}/guide/examples/shout" in http
        assert f"card     HTTP+JSON {base}/guide/examples/shout/rest" in http
        assert "artifact HELLO OVER HTTP" in http
        assert http[-1] == "status   TASK_STATE_COMPLETED"

        pool = await run("03_pool.py", "--broker", broker.url, "--requests", "4")
        assert pool[0] == f"pool guide/examples/pool/shouters: 3 members on {broker.url}"
        answers = pool[1:5]
        for n, answer in enumerate(answers, start=1):
            assert re.fullmatch(rf"HELLO {n} \(from member-[123]\)", answer), answer
        served = dict(item.split(": ") for item in pool[5].removeprefix("served by ")
                      .split(", "))
        assert sum(int(v) for v in served.values()) == 4
    finally:
        if agent.returncode is None:
            agent.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop
        _, err = await asyncio.wait_for(agent.communicate(), 30)
    assert agent.returncode == 0, err.decode()
    # Set up as the guide says, the agent runs without a2a-sdk's per-call spans.
    assert "spans are on" not in err.decode()
