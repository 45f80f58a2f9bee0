"""Every command that connects to a broker says which one, and where its URL came
from, when it fails: one line, exit 1."""

from __future__ import annotations

from click.testing import CliRunner

from a2a_mqtt.cli.main import main


def test_every_broker_command_names_its_broker_on_a_failure() -> None:
    gone = "mqtt://127.0.0.1:1"  # nothing listens on port 1
    commands = [["agents", "list"], ["agents", "show", "a/b/c"], ["agents", "watch"],
                ["send", "a/b/c", "x"], ["send", "a/b/c", "x", "--stream"],
                ["tasks", "get", "a/b/c", "t"], ["tasks", "list", "a/b/c"],
                ["tasks", "cancel", "a/b/c", "t"], ["tasks", "subscribe", "a/b/c", "t"],
                ["example", "echo"], ["gateway", "--port", "0"], ["gateway", "showcase"],
                ["registry", "serve", "--port", "0"], ["mcp", "list"],
                ["gateway", "expose", "http://127.0.0.1:1", "--agent", "a/b/c"]]
    for command in commands:
        # In this process: the commands' own code paths, without 14 interpreter starts.
        result = CliRunner().invoke(main, [*command, "--broker", gone])
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error")]
        assert result.exit_code == 1 and len(errors) == 1, (command, result.output)
        assert errors[0].endswith(f"[broker {gone} (given)]"), (command, result.output)
        assert result.exc_info is None or result.exc_info[0] is SystemExit
        # Serving commands say "serving"/"exposing" once ready, never before a failure.
        assert "serving" not in result.stderr and "exposing" not in result.stderr
