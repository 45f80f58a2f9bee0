"""URL layout: which agent a path names."""

from __future__ import annotations

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.gateway.layout import Target, candidates, jsonrpc_url, rest_url

AGENT = AgentRef("acme", "lab", "echo")


@pytest.mark.parametrize(("path", "rest"), [
    ("/acme/lab/echo", "/"),
    ("/acme/lab/echo/", "/"),
    ("/acme/lab/echo/rest/message:send", "/rest/message:send"),
    ("/acme/lab/echo/.well-known/agent-card.json", "/.well-known/agent-card.json"),
])
def test_agent_paths(path: str, rest: str) -> None:
    assert candidates(path) == [Target(AGENT, "/acme/lab/echo", rest)]


def test_pool_path_is_read_both_ways_pool_first() -> None:
    pool = AgentRef("acme", "lab", "inspectors", pool=True)
    agent_named_pool = AgentRef("acme", "lab", "pool")
    assert candidates("/acme/lab/pool/inspectors/rest/tasks") == [
        Target(pool, "/acme/lab/pool/inspectors", "/rest/tasks"),
        Target(agent_named_pool, "/acme/lab/pool", "/inspectors/rest/tasks"),
    ]
    assert candidates("/acme/lab/pool") == [Target(agent_named_pool, "/acme/lab/pool", "/")]


@pytest.mark.parametrize("path", ["", "/", "/acme", "/acme/lab", "acme/lab/echo",
                                  "/acme/la b/echo", "/acme//echo", "/a+/b/c", "/acme/lab/é"])
def test_paths_naming_no_agent(path: str) -> None:
    assert candidates(path) == []


def test_urls() -> None:
    assert jsonrpc_url("http://gw:8080/", AGENT) == "http://gw:8080/acme/lab/echo"
    assert rest_url("http://gw:8080", AgentRef("a", "b", "p", pool=True)) == (
        "http://gw:8080/a/b/pool/p/rest")
