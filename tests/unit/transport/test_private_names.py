"""No module in src/ may use a private name of an MQTT library (mqtt5, paho) or websockets.

Private names (``_x``) change in patch releases without notice (paho 2.1 -> 2.2
rewrote four methods the old transport overrode), so depending on them makes an
upgrade silently slow, wrong, or an import error. The rules, checked on the AST
of every module under ``src/a2a_mqtt`` (without importing the code under test):

1. **Imports.** No dotted component or imported name under a library may start
   with ``_`` (``import paho.mqtt._x``, ``from mqtt5 import _x``).
2. **Names bound to a library.** No private attribute on a name bound by one of
   its imports (a module alias, a class, a function): ``mqtt5._read``,
   ``Client._handle_publish``.
3. **No private library name at all in a module that imports the library.**
   Without type inference a checker cannot tell a library object from one of
   ours, so such a module may not access (``obj._x``) or define (``def _x``) any
   private name the library itself has: read from its source for a
   pure-Python library (paho), from its classes for a compiled one (mqtt5).
   websockets is exempt from this rule only (its source uses generic names such
   as ``_loop``); rules 1, 2, 4 and 5 hold for it.
4. **No back doors.** In a module that imports a library: no ``getattr``/
   ``setattr``/``hasattr``/``delattr`` with a literal name starting with ``_``,
   no ``vars()`` and no ``.__dict__``.
5. **Subclasses stay public.** No class may subclass a private library class,
   and a subclass of a public library class may not define any private name
   (defining one overrides a private hook).

``test_import_boundary.py`` keeps MQTT imports inside ``a2a_mqtt.transport``.
The checker itself is tested on snippets below, so a rule that stops firing
fails the suite too.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path

import mqtt5
import paho
import pytest

import a2a_mqtt

PACKAGE = Path(a2a_mqtt.__file__).parent
LIBRARIES = ("paho", "mqtt5", "websockets")
_ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def source_private_names(root: Path) -> frozenset[str]:
    """Every private attribute, function and class name in a library's source."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
                _private(node.name)
            ):
                names.add(node.name)
    return frozenset(names)


def compiled_private_names(module: object) -> frozenset[str]:
    """Every private name on a compiled module and on its classes."""
    names = set(dir(module))
    for name in list(names):
        value = getattr(module, name)
        if inspect.isclass(value):
            names.update(dir(value))
    return frozenset(n for n in names if _private(n))


PRIVATE: dict[str, frozenset[str]] = {
    "paho": source_private_names(Path(next(iter(paho.__path__)))),
    "mqtt5": compiled_private_names(mqtt5),
    "websockets": frozenset(),  # exempt from rule 3, see the module docstring
}


def _defined_name(node: ast.AST) -> str | None:
    """The name a def, class or ``self.x =`` assignment inside a class body defines."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
        return node.attr
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id
    return None


def _imports(tree: ast.AST, report: Callable[[ast.AST, str], None]) -> dict[str, str]:
    """Names bound by library imports -> the name the library gives them."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in LIBRARIES:
                    bound[alias.asname or parts[0]] = parts[-1] if alias.asname else parts[0]
                    if any(_private(p) for p in parts):
                        report(node, f"imports private module {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] in LIBRARIES:
                if any(_private(p) for p in parts):
                    report(node, f"imports from private module {node.module}")
                for alias in node.names:
                    bound[alias.asname or alias.name] = alias.name
                    if _private(alias.name):
                        report(node, f"imports private name {alias.name} of {parts[0]}")
    return bound


def _used_libraries(tree: ast.AST) -> set[str]:
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            used.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            used.add(node.module.split(".")[0])
    return used & set(LIBRARIES)


def violations(source: str, filename: str = "<snippet>") -> list[str]:
    """Every breach of the module docstring's rules in ``source``, as readable lines."""
    tree = ast.parse(source, filename=filename)
    found: list[str] = []

    def report(node: ast.AST, text: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {text}")

    bound = _imports(tree, report)
    used = _used_libraries(tree)
    private = frozenset().union(*(PRIVATE[lib] for lib in used))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound and _private(node.attr):
                report(node, f"private attribute {node.attr} of the library's {root.id}")
            elif node.attr in private:
                report(node, f"uses {node.attr}, a private name of {sorted(used)}")
            elif used and node.attr == "__dict__":
                report(node, "reads __dict__ in a module that uses a library")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name in private:
                report(node, f"defines {node.name}, a private name of {sorted(used)}")
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                root = base
                while isinstance(root, ast.Attribute):
                    root = root.value
                if not (isinstance(root, ast.Name) and root.id in bound):
                    continue
                base_name = base.attr if isinstance(base, ast.Attribute) else bound[root.id]
                if _private(base_name):
                    report(node, f"class {node.name} subclasses the private {base_name}")
                for item in ast.walk(node):
                    defined = _defined_name(item)
                    if defined is not None and _private(defined):
                        report(item, f"{node.name}, a library subclass, defines {defined}")
        elif used and isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "vars":
                report(node, "calls vars() in a module that uses a library")
            elif node.func.id in _ACCESSORS and len(node.args) >= 2:
                name = node.args[1]
                literal = name.value if isinstance(name, ast.Constant) else None
                if isinstance(literal, str) and _private(literal):
                    report(node, f"{node.func.id}(..., {literal!r})")
    return found


def test_no_module_in_src_uses_a_private_library_name() -> None:
    found = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in violations(path.read_text(), str(path.relative_to(PACKAGE)))
    ]
    assert found == []


def test_the_checks_see_the_libraries_and_the_transport() -> None:
    # Guards the test above against an empty name set or the wrong directory.
    assert {"_sock", "_handle_publish", "_out_messages", "_create_socket"} <= PRIVATE["paho"]
    assert "_WebsocketWrapper" in PRIVATE["paho"]
    transport = (PACKAGE / "transport" / "_wire.py").read_text()
    assert "import mqtt5" in transport
    assert "websockets" in (PACKAGE / "transport" / "_connection.py").read_text()


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import paho.mqtt._packet", "private module"),
        ("from paho.mqtt._packet import decode_publish", "private module"),
        ("from paho.mqtt.client import _WebsocketWrapper", "private name"),
        ("from paho.mqtt import client as c\nc._socketpair_compat()", "private attribute"),
        ("from paho.mqtt.client import Client\nClient._handle_publish", "private attribute"),
        ("import paho.mqtt.client\nx = 1\ny._sock", "a private name of"),
        ("import paho.mqtt.client\nself._out_messages.clear()", "a private name of"),
        ("import paho\nclass A:\n    def _handle_publish(self): ...", "defines _handle_publish"),
        ("from paho.mqtt.client import _WebsocketWrapper as W\nclass C(W): ...", "private _Web"),
        ("import paho.mqtt.client as m\nclass C(m._WebsocketWrapper): ...", "subclasses"),
        ("from paho.mqtt.client import Client\nclass C(Client):\n def _mine(self): ...", "defines"),
        ("import paho.mqtt.client as m\nclass C(m.Client):\n  def f(s): s._x = 1", "defines _x"),
        ("import paho\ngetattr(c, '_sock')", "getattr"),
        ("import mqtt5\nsetattr(c, '_anything_private', 1)", "setattr"),
        ("import mqtt5\nc.__dict__.get('x')", "__dict__"),
        ("import mqtt5\nvars(c)", "vars()"),
        ("import mqtt5\nmqtt5._read(b'')", "private attribute"),
        ("from mqtt5 import _internal", "private name"),
        ("import mqtt5 as m\nm.PublishPacket._raw", "private attribute"),
        ("from websockets.client import ClientProtocol as P\nclass C(P):\n def _x(s): ...", "_x"),
        ("from websockets import _private", "private name"),
        ("import websockets.legacy._helpers", "private module"),
    ],
)
def test_the_checker_catches(snippet: str, expected: str) -> None:
    found = violations(snippet)
    assert found, snippet
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    "snippet",
    [
        "import mqtt5\np, n = mqtt5.read(memoryview(b''))\np.write()",
        "import mqtt5\nself._registry.add(x)",  # our own private name, not the library's
        "self._sock = 1",  # no library import: rule 3 does not apply
        "import paho\ngetattr(props, 'ResponseTopic', None)",
        "import mqtt5\nclass Mine:\n    def __init__(self): ...",
        "from websockets.client import ClientProtocol\nself._transport = None",
    ],
)
def test_the_checker_allows(snippet: str) -> None:
    assert violations(snippet) == []
