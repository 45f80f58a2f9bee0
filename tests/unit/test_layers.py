"""The folder-level import graph of src/a2a_mqtt: dependencies point one way (down).

``LAYERS`` is the one declaration of the allowed arrows: a capability (a folder
under src/a2a_mqtt, or a top-level module) may import only capabilities in a
lower layer, so the graph has no cycles by construction. The drawing in
docs/architecture.md ("Layers") must list the same layers; the test checks it.
Lazy imports inside functions and ``TYPE_CHECKING`` imports count too: a type
is a dependency.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

import a2a_mqtt

SRC = Path(a2a_mqtt.__file__).parent
ARCHITECTURE = SRC.parents[1] / "docs" / "architecture.md"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "telemetry", "_version"}),
    frozenset({"mqtt_types", "extras", "_loop", "_net", "_uvicorn", "_deadlines"}),
    frozenset({"binding", "connection", "service"}),
    frozenset({"transport", "observability"}),
    frozenset({"security", "access"}),
    frozenset({"server", "client", "broker", "mcp"}),
    frozenset({"registry", "workflows", "examples"}),
    frozenset({"gateway", "dashboard", "demo"}),
    frozenset({"cli"}),
    frozenset({"__init__", "__main__"}),
)
#: Only these may import a2a_mqtt.transport (the MQTT session); the rest go through them.
TRANSPORT_USERS = frozenset({"access", "broker", "server", "client", "mcp", "registry",
                             "workflows", "examples", "dashboard", "demo", "cli"})
#: Third-party MQTT clients: imported inside a2a_mqtt.transport only.
MQTT_LIBRARIES = frozenset({"mqtt5", "paho", "aiomqtt", "gmqtt"})


def layer_of(capability: str) -> int:
    for index, members in enumerate(LAYERS):
        if capability in members:
            return index
    raise AssertionError(f"{capability!r} is in no layer: add it to LAYERS and the drawing")


def capability_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "a2a_mqtt":
                found += [f"a2a_mqtt.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
    return found


def graph() -> dict[str, dict[str, set[str]]]:
    """capability -> imported capability -> the files that import it."""
    arrows: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(SRC.rglob("*.py")):
        source = capability_of(path)
        for name in imports(path):
            parts = name.split(".")
            if parts[0] != "a2a_mqtt":
                continue
            # ``from a2a_mqtt import X``: the capability X, or the facade's lazy name X.
            known = len(parts) > 1 and ((SRC / parts[1]).is_dir()
                                        or (SRC / f"{parts[1]}.py").is_file())
            target = parts[1] if known else "__init__"
            if target != source:
                arrows[source][target].add(str(path.relative_to(SRC)))
    return arrows


def test_every_capability_has_a_layer() -> None:
    capabilities = {capability_of(p) for p in SRC.rglob("*.py")}
    for capability in capabilities:
        layer_of(capability)
    declared = set().union(*LAYERS)
    assert declared - capabilities == set(), "LAYERS names a capability that does not exist"


def test_dependencies_point_down() -> None:
    upward = [f"{source} (layer {layer_of(source)}) -> {target} (layer {layer_of(target)}) "
              f"in {', '.join(sorted(files))}"
              for source, targets in graph().items()
              for target, files in targets.items()
              if layer_of(target) >= layer_of(source)]
    assert upward == []


def test_only_the_allowed_layers_use_the_transport() -> None:
    users = {source for source, targets in graph().items() if "transport" in targets}
    assert users <= TRANSPORT_USERS, sorted(users - TRANSPORT_USERS)


def test_nothing_imports_the_cli_or_the_package_facade() -> None:
    for source, targets in graph().items():
        if source != "__main__":
            assert "cli" not in targets, (source, targets.get("cli"))
        assert "__init__" not in targets, (source, targets.get("__init__"))


def test_only_the_transport_imports_an_mqtt_library() -> None:
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if capability_of(p) != "transport"
                 and any(n.split(".")[0] in MQTT_LIBRARIES for n in imports(p))]
    assert offenders == []


def drawn_layers() -> tuple[frozenset[str], ...]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = text.split("<!-- layers: tests/unit/test_layers.py -->", 1)[1].split("```")[1]
    rows = [line.split(maxsplit=1) for line in block.splitlines()
            if re.match(r"^\s*\d+\s", line)]
    drawn = {int(number): frozenset(re.findall(r"[\w.]+(?=/|\b)", rest.split("  #")[0]))
             for number, rest in rows}
    return tuple(frozenset(n.removesuffix(".py") for n in drawn[i]) for i in sorted(drawn))


def test_the_architecture_drawing_matches() -> None:
    assert drawn_layers() == LAYERS


@pytest.mark.parametrize(("source", "expected"), [
    ("import a2a_mqtt.transport.paho", ["a2a_mqtt.transport.paho"]),
    ("from a2a_mqtt import AgentConfig", ["a2a_mqtt.AgentConfig"]),
    ("def f():\n    from a2a_mqtt.cli import main\n", ["a2a_mqtt.cli"]),
    ("if TYPE_CHECKING:\n    from a2a_mqtt.server import x\n", ["a2a_mqtt.server"]),
    ("from . import x", []),
])
def test_imports_are_found_wherever_they_are(source: str, expected: list[str],
                                             tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert imports(path) == expected
