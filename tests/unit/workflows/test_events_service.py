"""StageConfig -> StageServer follows the one service shape; bad configs are refused."""

from __future__ import annotations

import inspect

import pytest

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.service import Server
from a2a_mqtt.workflows import parse_workflow
from a2a_mqtt.workflows.events import StageConfig, StageServer

PIPELINE = parse_workflow("""
name: line
steps:
  a: {agent: o/u/a, trigger: on input, input: x}
  b: {agent: o/u/b, trigger: on result of a, input: y}
""")


def test_the_config_is_frozen_and_names_its_server() -> None:
    config = StageConfig(workflow=PIPELINE, store_url="sqlite:///x.db", stages=("b",))
    with pytest.raises(AttributeError):
        config.connection = None  # type: ignore[misc]
    server = config.server()
    assert type(server) is StageServer
    assert isinstance(server, Server)
    assert [step.name for step in config.selected] == ["b"]
    params = inspect.signature(StageServer.serve).parameters
    assert list(params)[:2] == ["self", "stop"]


def test_a_supervised_workflow_or_an_unknown_stage_is_refused() -> None:
    supervised = parse_workflow("name: w\nsteps:\n  a: {agent: o/u/a, input: x}\noutput: x\n")
    with pytest.raises(ConfigError, match="no event-driven stages"):
        StageConfig(workflow=supervised, store_url="sqlite:///x.db")
    with pytest.raises(ConfigError, match="unknown stage"):
        StageConfig(workflow=PIPELINE, store_url="sqlite:///x.db", stages=("zz",))
    with pytest.raises(ConfigError, match="max_concurrency"):
        StageConfig(workflow=PIPELINE, store_url="sqlite:///x.db", max_concurrency=0)
