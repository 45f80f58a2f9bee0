"""The policy's exports, compared with reviewed golden files.

Regenerate after an intended policy change with ``A2A_MQTT_REGEN_GOLDEN=1`` and
review the diff: it *is* the change in who may do what.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from a2a_mqtt.access import Identity
from a2a_mqtt.access.export import (
    DEFAULT_ACL_ACCESS,
    dynsec_document,
    emqx_acl_conf,
    emqx_builtin_rules,
    mosquitto_acl_file,
)
from a2a_mqtt.access.secrets import hash_password

GOLDEN = Path(__file__).parent / "golden"
CAST = (
    Identity.parse("acme/line1/press", "agent", pools=("presses",)),
    Identity.parse("acme/line1/op", "requester"),
    Identity.parse("globex/hq/partner", "requester", grants=("acme/line1", "initech/lab/x")),
    Identity.parse("acme/ops/registry", "registry", grants=("*",)),
    Identity.parse("acme/edge/gw", "gateway"),
    Identity.parse("acme/ops/board", "dashboard"),
    Identity.parse("a2a-mqtt/admin/admin", "admin"),
)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("A2A_MQTT_REGEN_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; review, then regenerate"


def test_mosquitto_acl_file() -> None:
    _golden("mosquitto.acl", mosquitto_acl_file(CAST))


def test_emqx_acl_conf() -> None:
    _golden("emqx_acl.conf", emqx_acl_conf(CAST))


def test_emqx_builtin_rules() -> None:
    _golden("emqx_rules.json", json.dumps(emqx_builtin_rules(CAST), indent=2) + "\n")


def test_dynsec_document() -> None:
    fixed = hash_password("not-a-real-secret", salt=b"0" * 12)
    doc = dynsec_document(dict.fromkeys(CAST, fixed))
    _golden("dynamic-security.json", json.dumps(doc, indent=2) + "\n")
    assert doc["defaultACLAccess"] == DEFAULT_ACL_ACCESS
    assert all(c["clientid"] == c["username"] for c in doc["clients"])


def test_exports_do_not_depend_on_input_order() -> None:
    assert mosquitto_acl_file(CAST) == mosquitto_acl_file(reversed(CAST))
    assert emqx_acl_conf(CAST) == emqx_acl_conf(reversed(CAST))


@pytest.mark.parametrize("export", [mosquitto_acl_file, emqx_acl_conf])
def test_every_rule_is_scoped_to_one_identity(export: object) -> None:
    text = export(CAST)  # type: ignore[operator]
    # No line grants anything to everyone except the final deny.
    assert "{allow, all" not in text
    assert "\npattern " not in text
