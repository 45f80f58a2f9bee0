"""docs/cli.md is exactly what the click definitions render (run scripts/cli-docs)."""

from __future__ import annotations

from pathlib import Path

from a2a_mqtt.cli.reference import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    assert DOC.read_text() == render(), "docs/cli.md is stale: run scripts/cli-docs"


def test_cli_reference_covers_every_command() -> None:
    text = render()
    for command in ("agents list", "send", "tasks cancel", "registry serve", "gateway expose"):
        assert f"`a2a-mqtt {command}`" in text
