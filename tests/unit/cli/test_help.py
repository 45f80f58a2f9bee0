"""``--help`` names the environment variables; the HTTP services default to distinct ports."""

from __future__ import annotations

import click
from click.testing import CliRunner

from a2a_mqtt.cli.main import main
from a2a_mqtt.dashboard import DEFAULT_PORT
from a2a_mqtt.registry.config import RegistryConfig

DASHBOARD_PORT = DEFAULT_PORT  # the dashboard (docs/dashboard.md)


def _help(*path: str) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _port_default(*path: str) -> int:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    (port,) = [p for p in command.params if p.name == "port"]
    assert isinstance(port.default, int)
    return port.default


def test_help_lists_environment_variables() -> None:
    assert "[env var: A2A_MQTT_BROKER]" in _help("send")
    assert "[env var: A2A_MQTT_PROFILE]" in _help("agents", "list")
    assert "A2A_MQTT_GATEWAY_PORT" in _help("gateway", "serve")
    assert "A2A_MQTT_REGISTRY_PORT" in _help("registry", "serve")


def test_default_ports_are_distinct() -> None:
    gateway, registry = _port_default("gateway", "serve"), _port_default("registry", "serve")
    assert (gateway, registry) == (8080, 8700)
    assert RegistryConfig.__dataclass_fields__["http_port"].default == registry
    assert len({gateway, registry, DASHBOARD_PORT}) == 3


def test_workflow_serve_takes_a_claim_grace() -> None:
    assert "--claim-grace FLOAT RANGE" in _help("workflow", "serve")
    assert "env var: A2A_MQTT_CLAIM_GRACE; default: 2.0" in _help("workflow", "serve")
    refused = CliRunner().invoke(
        main, ["workflow", "serve", "--db", "sqlite:///x.db", "--claim-grace", "-1", "w.yaml"])
    assert refused.exit_code == 2
    assert "--claim-grace" in refused.output
