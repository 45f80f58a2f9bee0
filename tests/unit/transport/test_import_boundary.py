"""Only a2a_mqtt.transport may import the MQTT client library (paho)."""

from __future__ import annotations

import ast
from pathlib import Path

import a2a_mqtt

PACKAGE = Path(a2a_mqtt.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_paho_is_imported_only_inside_the_transport_package() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "transport" not in path.relative_to(PACKAGE).parts[:1]
        and any(name == "paho" or name.startswith("paho.") for name in imported_modules(path))
    ]
    assert offenders == []


def test_the_transport_package_does_import_paho() -> None:
    # Guards the test above against walking the wrong directory.
    assert any(
        name.startswith("paho.") for name in imported_modules(PACKAGE / "transport" / "paho.py")
    )
