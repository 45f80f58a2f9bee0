"""The package top level: the names a newcomer needs, resolved lazily; a side-effect-free import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import a2a_mqtt

# What `import a2a_mqtt` may never load: a2a-sdk, the MQTT library, the optional extras.
HEAVY = ("a2a", "mqtt5", "websockets", "paho", "sqlalchemy", "uvicorn", "starlette", "mcp",
         "httpx", "click", "cryptography", "joserfc", "google")


def test_all_is_exactly_the_lazy_exports() -> None:
    assert sorted(a2a_mqtt.__all__) == sorted({"__version__", *a2a_mqtt._EXPORTS})
    assert len(a2a_mqtt.__all__) == len(set(a2a_mqtt.__all__))


@pytest.mark.parametrize("name", sorted(a2a_mqtt._EXPORTS))
def test_each_name_resolves_to_the_object_its_module_defines(name: str) -> None:
    import importlib

    value = getattr(a2a_mqtt, name)
    assert value is getattr(importlib.import_module(a2a_mqtt._EXPORTS[name]), name)
    assert name in dir(a2a_mqtt)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        a2a_mqtt.Nope  # type: ignore[attr-defined]  # noqa: B018


_PROBE = """
import json, os, sys
before = dict(os.environ)
import a2a_mqtt
print(json.dumps({"env_same": dict(os.environ) == before,
                  "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def test_import_is_cheap_and_changes_no_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    probe = json.loads(out)
    assert probe["env_same"], "import a2a_mqtt changed os.environ"
    assert "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED" not in env
    loaded = set(probe["modules"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_command_turns_a2a_sdk_spans_off_at_start_up_unless_chosen() -> None:
    probe = ("import os, sys; sys.argv = ['a2a-mqtt', '--version']\n"
             "from a2a_mqtt.__main__ import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "from a2a_mqtt.telemetry import a2a_sdk_spans_on\n"
             "print(os.environ.get('OTEL_INSTRUMENTATION_A2A_SDK_ENABLED'), a2a_sdk_spans_on())")
    env = {k: v for k, v in os.environ.items() if k != "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    assert out[-2:] == ["false", "False"]
    chosen = {**env, "OTEL_INSTRUMENTATION_A2A_SDK_ENABLED": "true"}
    out = subprocess.run([sys.executable, "-c", probe], env=chosen, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    assert out[-2:] == ["true", "True"]
