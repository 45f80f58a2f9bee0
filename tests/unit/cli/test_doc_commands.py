"""Every ``a2a-mqtt ...`` command line in a shell block of docs/*.md names a real command
with real options: the CLI itself parses it (``--help`` appended: every option is parsed
and nothing runs). The README has its own test (tests/behaviour/docs/test_readme.py);
docs/cli.md is generated from the commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from a2a_mqtt.cli.main import main

DOCS = Path(__file__).resolve().parents[3] / "docs"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def doc_lines() -> list[tuple[str, str]]:
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        if doc.name == "cli.md":
            continue
        for lang, body in _BLOCK.findall(doc.read_text()):
            if lang not in ("bash", "sh", "console", ""):
                continue
            for raw in body.replace("\\\n", " ").splitlines():
                line = raw.split("  #", 1)[0].strip().removesuffix("&").strip()
                if line.startswith("a2a-mqtt "):
                    found.append((doc.name, line))
    return found


def test_the_docs_have_command_lines() -> None:
    names = {name for name, _ in doc_lines()}
    assert {"gateway.md", "registry.md", "security.md", "guide.md"} <= names


@pytest.mark.parametrize(("doc", "line"), doc_lines())
def test_every_documented_command_line_parses(doc: str, line: str) -> None:
    args = shlex.split(line)[1:]
    # ``--help`` before a ``--`` (the rest is another program's command line).
    cut = args.index("--") if "--" in args else len(args)
    result = CliRunner().invoke(main, [*args[:cut], "--help", *args[cut:]])
    assert result.exit_code == 0, f"{doc}: {line!r}: {result.output.strip().splitlines()[-1:]}"
    assert "Usage:" in result.output
