"""Expose configuration files (TOML and JSON) and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.gateway.expose_config import ExposeConfig, ExposedAgent, load_expose_config

TOML = """
broker = "mqtt://10.0.0.1:1883"

[[agents]]
url = "http://127.0.0.1:9999"
agent = "acme/lab/weather"
headers = { Authorization = "Bearer s3cret" }

[[agents]]
url = "https://agents.example/travel"
agent = "acme/lab/travel"
card_path = "/card.json"
"""


def test_toml(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(TOML)
    config = load_expose_config(path)
    assert config.connection.url == "mqtt://10.0.0.1:1883"
    weather, travel = config.agents
    assert weather.ref == AgentRef("acme", "lab", "weather")
    assert weather.headers == (("Authorization", "Bearer s3cret"),)
    assert travel.card_path == "/card.json" and travel.url == "https://agents.example/travel"
    assert load_expose_config(path, broker_url="mqtt://b:1").connection.url == "mqtt://b:1"


def test_json(tmp_path: Path) -> None:
    path = tmp_path / "agents.json"
    path.write_text('{"agents": [{"url": "http://h:1", "agent": "a/b/c"}]}')
    assert load_expose_config(path, session_expiry=0).agents[0].ref == AgentRef("a", "b", "c")


@pytest.mark.parametrize(("text", "words"), [
    ("agents = 3", "'agents' list"),
    ('nonsense = 1\nagents = []', "unknown key"),
    ("agents = []", "at least one agent"),
    ('[[agents]]\nurl = "http://h"\n', "url and agent"),
    ('[[agents]]\nurl = "ftp://h"\nagent = "a/b/c"\n', "http"),
    ('[[agents]]\nurl = "http://h"\nagent = "a/b"\n', "org/unit/agent"),
    ('[[agents]]\nurl = "http://h"\nagent = "a/b/pool/p"\n', "org/unit/agent reference"),
    ('[[agents]]\nurl = "http://h"\nagent = "a/b/c"\nheaders = { X = 1 }\n', "headers"),
    ('[[agents]]\nurl = "http://h"\nagent = "a/b/c"\ncolour = "red"\n', "unknown key"),
    ('[[agents]]\nurl = "http://h"\nagent = "a/b/c"\n[[agents]]\nurl = "http://i"\n'
     'agent = "a/b/c"\n', "used twice"),
    ("agents = [", "not valid TOML"),
])
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_expose_config(path)


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_expose_config(tmp_path / "nope.toml")
    agent = ExposedAgent(url="http://h:1", ref=AgentRef("a", "b", "c"))
    with pytest.raises(ConfigError, match="timeouts"):
        ExposeConfig(agents=(agent,), http_timeout=0)
    with pytest.raises(ConfigError):
        ExposeConfig(agents=(agent,), connection=ConnectionSettings(url="http://not-a-broker"))
