"""No module in src/ may use a private name of paho-mqtt.

paho's private names (``_x``) change in patch releases without notice (2.1 -> 2.2
rewrote four methods the transport once overrode), so depending on them makes
an upgrade silently slow, wrong, or an import error. The rules, checked on the
AST of every module under ``src/a2a_mqtt`` (no import of the code under test):

1. **Imports.** No ``import paho._x`` / ``from paho.mqtt._x import ...`` and no
   ``from paho... import _x``: no dotted component or imported name under
   ``paho`` may start with ``_``.
2. **Names bound to paho.** No private attribute on a name bound by a paho
   import (a module alias, a class, a function): ``client_module._sock``,
   ``Client._handle_publish``.
3. **No private paho name at all in a module that imports paho.** Without type
   inference a checker cannot tell a paho object from one of ours, so a module
   importing paho may not access (``obj._x``) or define (``def _x``) any private
   name that paho itself uses, whatever the object. The set is read from the
   installed paho's source (every ``._x`` attribute and ``_x`` function/class
   it has). Our own private names that collide must be renamed.
4. **No back doors.** In a module that imports paho: no ``getattr``/``setattr``/
   ``hasattr``/``delattr`` with a literal name starting with ``_``, no ``vars()``
   and no ``.__dict__`` (reaching paho's state without naming it).
5. **Subclasses stay public.** No class may subclass a private paho class, and a
   subclass of a public paho class may not define any private (``_x``) name: a
   subclass overrides a private hook just by defining a method of that name. It
   may override public methods (``Properties.pack``), which are paho's API.

``tests/unit/transport/test_import_boundary.py`` keeps paho imports inside
``a2a_mqtt.transport``, so objects of paho never reach modules rule 3 does not
cover. The checker itself is tested on small snippets below, so a rule that
stops firing fails the suite too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import paho
import pytest

import a2a_mqtt

PACKAGE = Path(a2a_mqtt.__file__).parent
PAHO_ROOT = Path(next(iter(paho.__path__)))
_ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def paho_private_names() -> frozenset[str]:
    """Every private attribute, function and class name in the installed paho's source."""
    names: set[str] = set()
    for path in PAHO_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
                _private(node.name)
            ):
                names.add(node.name)
    return frozenset(names)


PAHO_PRIVATE = paho_private_names()


def _defined_name(node: ast.AST) -> str | None:
    """The name a def, class or ``self.x =`` assignment inside a class body defines."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
        return node.attr
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id
    return None


def violations(source: str, filename: str = "<snippet>") -> list[str]:
    """Every breach of the module docstring's rules in ``source``, as readable lines."""
    tree = ast.parse(source, filename=filename)
    bound: dict[str, str] = {}  # name bound by a paho import -> the name paho gives it
    found: list[str] = []

    def report(node: ast.AST, text: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {text}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "paho":
                    bound[alias.asname or parts[0]] = parts[-1] if alias.asname else parts[0]
                    if any(_private(p) for p in parts):
                        report(node, f"imports private paho module {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "paho":
                if any(_private(p) for p in parts):
                    report(node, f"imports from private paho module {node.module}")
                for alias in node.names:
                    bound[alias.asname or alias.name] = alias.name
                    if _private(alias.name):
                        report(node, f"imports private paho name {alias.name}")
    uses_paho = bool(bound)

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and base.id in bound and _private(node.attr):
                report(node, f"private attribute {node.attr} of paho's {base.id}")
            elif uses_paho and node.attr in PAHO_PRIVATE:
                report(node, f"uses {node.attr}, a private name of paho")
            elif uses_paho and node.attr == "__dict__":
                report(node, "reads __dict__ in a module that uses paho")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if uses_paho and node.name in PAHO_PRIVATE:
                report(node, f"defines {node.name}, a private name of paho")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                root = base
                while isinstance(root, ast.Attribute):
                    root = root.value
                if not (isinstance(root, ast.Name) and root.id in bound):
                    continue
                base_name = base.attr if isinstance(base, ast.Attribute) else bound[root.id]
                if _private(base_name):
                    report(node, f"class {node.name} subclasses paho's private {base_name}")
                for item in ast.walk(node):
                    defined = _defined_name(item)
                    if defined is not None and _private(defined):
                        report(item, f"{node.name}, a paho subclass, defines {defined}")
        elif uses_paho and isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "vars":
                report(node, "calls vars() in a module that uses paho")
            elif node.func.id in _ACCESSORS and len(node.args) >= 2:
                name = node.args[1]
                literal = name.value if isinstance(name, ast.Constant) else None
                if isinstance(literal, str) and _private(literal):
                    report(node, f"{node.func.id}(..., {literal!r})")
    return found


def test_no_module_in_src_uses_a_private_paho_name() -> None:
    found = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in violations(path.read_text(), str(path.relative_to(PACKAGE)))
    ]
    assert found == []


def test_the_checks_see_paho_and_the_transport() -> None:
    # Guards the test above against an empty name set or the wrong directory.
    assert {"_sock", "_handle_publish", "_out_messages", "_create_socket"} <= PAHO_PRIVATE
    assert "_WebsocketWrapper" in PAHO_PRIVATE
    transport = PACKAGE / "transport" / "_client.py"
    assert "paho" in transport.read_text()


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import paho.mqtt._packet", "private paho module"),
        ("from paho.mqtt._packet import decode_publish", "private paho module"),
        ("from paho.mqtt.client import _WebsocketWrapper", "private paho name"),
        ("from paho.mqtt import client as c\nc._socketpair_compat()", "private attribute"),
        ("from paho.mqtt.client import Client\nClient._handle_publish", "private attribute"),
        ("import paho.mqtt.client\nx = 1\ny._sock", "private name of paho"),
        ("import paho.mqtt.client\nself._out_messages.clear()", "private name of paho"),
        ("import paho\nclass A:\n    def _handle_publish(self): ...", "defines _handle_publish"),
        ("from paho.mqtt.client import _WebsocketWrapper as W\nclass C(W): ...", "private _Web"),
        ("import paho.mqtt.client as m\nclass C(m._WebsocketWrapper): ...", "subclasses"),
        ("from paho.mqtt.client import Client\nclass C(Client):\n def _mine(self): ...", "defines"),
        ("import paho.mqtt.client as m\nclass C(m.Client):\n  def f(s): s._x = 1", "defines _x"),
        ("import paho\ngetattr(c, '_sock')", "getattr"),
        ("import paho\nsetattr(c, '_anything_private', 1)", "setattr"),
        ("import paho\nc.__dict__.get('x')", "__dict__"),
        ("import paho\nvars(c)", "vars()"),
    ],
)
def test_the_checker_catches(snippet: str, expected: str) -> None:
    found = violations(snippet)
    assert found, snippet
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    "snippet",
    [
        "from paho.mqtt.client import Client\nc = Client()\nc.loop_read()\nc.socket()",
        "import paho\nself._registry.add(x)",  # our own private name, not paho's
        "self._sock = 1",  # no paho import: rule 3 does not apply
        "import paho\ngetattr(props, 'ResponseTopic', None)",
        "import paho\nclass Mine:\n    def __init__(self): ...",
        "from paho.mqtt.properties import Properties\nclass P(Properties):\n def pack(s): ...",
    ],
)
def test_the_checker_allows(snippet: str) -> None:
    assert violations(snippet) == []
