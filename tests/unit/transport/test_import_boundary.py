"""Only a2a_mqtt.transport may import an MQTT library (the mqtt5 codec, or paho)."""

from __future__ import annotations

import ast
from pathlib import Path

import a2a_mqtt

PACKAGE = Path(a2a_mqtt.__file__).parent
MQTT_LIBRARIES = ("mqtt5", "paho", "aiomqtt", "gmqtt")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _mqtt(name: str) -> bool:
    return any(name == lib or name.startswith(f"{lib}.") for lib in MQTT_LIBRARIES)


def test_mqtt_libraries_are_imported_only_inside_the_transport_package() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "transport" not in path.relative_to(PACKAGE).parts[:1]
        and any(_mqtt(name) for name in imported_modules(path))
    ]
    assert offenders == []


def test_the_transport_package_does_import_the_codec() -> None:
    # Guards the test above against walking the wrong directory.
    assert "mqtt5" in imported_modules(PACKAGE / "transport" / "_wire.py")
