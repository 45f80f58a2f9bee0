"""The MCP wire modules are pure: no I/O, concurrency or MQTT client imports, no coroutines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import a2a_mqtt.mcp

PURE = ("topics.py", "wire.py", "presence.py")
FORBIDDEN = frozenset({"asyncio", "anyio", "socket", "subprocess", "threading", "ssl", "paho"})
PACKAGE = Path(a2a_mqtt.mcp.__file__).parent


@pytest.mark.parametrize("name", PURE)
def test_module_is_pure(name: str) -> None:
    tree = ast.parse((PACKAGE / name).read_text())
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
    assert not [m for m in imported if m.split(".")[0] in FORBIDDEN]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)]


def test_no_module_imports_paho() -> None:
    for path in PACKAGE.glob("*.py"):
        assert "paho" not in path.read_text(), path.name
