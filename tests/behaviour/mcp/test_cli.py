"""``a2a-mqtt mcp list|tools|call`` against ``serve-example`` processes."""

from __future__ import annotations

import json
import subprocess

from a2a_mqtt.broker import MosquittoProcess
from tests.behaviour.mcp.conftest import CLI, Processes


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "mcp", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def wait_listed(url: str, name: str, count: int) -> list[dict[str, object]]:
    # ``list`` takes a snapshot; the servers start in parallel with it.
    for _ in range(100):
        out = run("list", "--broker", url, "--filter", name, "--json")
        assert out.returncode == 0, out.stderr
        listed: list[dict[str, object]] = json.loads(out.stdout)
        if len(listed) == count:
            return listed
    raise AssertionError(f"{name}: never saw {count} instances")


def test_list_tools_call(broker: MosquittoProcess, processes: Processes, server_name: str,
                         unique_id: str) -> None:
    for sid in (f"a-{unique_id}", f"b-{unique_id}"):
        processes.start(CLI, "mcp", "serve-example", "--broker", broker.url, "--name",
                        server_name, "--server-id", sid)
    listed = wait_listed(broker.url, server_name, 2)
    assert {i["serverId"] for i in listed} == {f"a-{unique_id}", f"b-{unique_id}"}
    assert {i["serverName"] for i in listed} == {server_name}

    tools = run("tools", server_name, "--broker", broker.url)
    assert tools.returncode == 0, tools.stderr
    assert "add\tAdd two integers." in tools.stdout.splitlines()

    call = run("call", server_name, "add", "--args", '{"a": 3, "b": 4}', "--broker", broker.url)
    assert (call.returncode, call.stdout.strip()) == (0, "7"), call.stderr

    failed = run("call", server_name, "nope", "--broker", broker.url,
                 "--server-id", f"b-{unique_id}")
    assert failed.returncode == 1

    bad_args = run("call", server_name, "add", "--args", "[1]", "--broker", broker.url)
    assert bad_args.returncode == 2
    assert "JSON object" in bad_args.stderr


def test_missing_server_fails_cleanly(broker: MosquittoProcess) -> None:
    out = run("tools", "no/such/server", "--broker", broker.url, "--timeout", "1")
    assert out.returncode == 1
    assert "DiscoveryError" in out.stderr
    assert "Traceback" not in out.stderr
