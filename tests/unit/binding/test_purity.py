"""The binding layer is pure: no I/O, concurrency or MQTT client imports (docs/style.md §6).

Only the binding modules' *direct* imports are checked, and those of
``a2a_mqtt.mqtt_types``, the value types (``PublishProperties``...) the binding
builds; it names ``ssl`` for a type annotation only (under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import a2a_mqtt.binding

FORBIDDEN = frozenset({"asyncio", "socket", "subprocess", "threading", "ssl", "paho",
                       "aiomqtt"})
BINDING_DIR = Path(a2a_mqtt.binding.__file__).parent
MODULES = [*sorted(BINDING_DIR.glob("*.py")), BINDING_DIR.parent / "mqtt_types.py"]


def forbidden_imports(source: str) -> list[str]:
    """Every import anywhere in ``source`` whose top-level package is forbidden."""
    found = []
    tree = ast.parse(source)
    typing_only = {id(n) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and isinstance(block.test, ast.Name)
                   and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def coroutine_functions(source: str) -> list[str]:
    return [node.name for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.AsyncFunctionDef)]


def test_the_binding_modules_are_found() -> None:
    names = {path.name for path in MODULES}
    assert names >= {"__init__.py", "topics.py", "properties.py", "envelope.py", "codes.py",
                     "card.py", "card_schema.py", "stream.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_binding_module_imports_nothing_impure(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_binding_module_defines_no_coroutines(path: Path) -> None:
    assert coroutine_functions(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("source", "expected"), [
    ("import asyncio", ["asyncio"]),
    ("import asyncio.tasks as t", ["asyncio.tasks"]),
    ("from socket import socket", ["socket"]),
    ("import json, subprocess", ["subprocess"]),
    ("from threading import Lock", ["threading"]),
    ("import ssl", ["ssl"]),
    ("from paho.mqtt import client", ["paho.mqtt"]),
    ("import aiomqtt", ["aiomqtt"]),
    ("def f():\n    import asyncio\n", ["asyncio"]),
    ("if True:\n    from paho.mqtt.client import Client\n", ["paho.mqtt.client"]),
    ("try:\n    import aiomqtt\nexcept ImportError:\n    pass\n", ["aiomqtt"]),
    ("import json\nfrom dataclasses import dataclass", []),
    ("import asyncio_compat\nimport sslkeylog", []),
    ("from a2a_mqtt.mqtt_types import PublishProperties", []),
    ("if TYPE_CHECKING:\n    import ssl\n", []),
    ("if TYPE_CHECKING:\n    pass\nimport ssl\n", ["ssl"]),
])
def test_the_checker_itself(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected


def test_the_coroutine_checker_itself() -> None:
    assert coroutine_functions("async def f():\n    pass\n") == ["f"]
    assert coroutine_functions("def f():\n    pass\n") == []
