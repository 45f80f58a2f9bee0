"""Rendering of the secure launcher's Mosquitto settings (no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_mqtt.access import Identity
from a2a_mqtt.broker import BrokerConfig, SecureBrokerConfig, render_config
from a2a_mqtt.errors import ConfigError

TLS = {"tls_certfile": Path("/s/server.crt"), "tls_keyfile": Path("/s/server.key"),
       "tls_cafile": Path("/s/ca.crt")}


def test_tls_only_listener_with_dynamic_security() -> None:
    text = render_config(BrokerConfig(
        port=8883, state_dir=Path("/s"), listener_tls=True, allow_anonymous=False,
        dynsec_plugin=Path("/usr/lib/p.so"), dynsec_file=Path("/s/ds.json"), **TLS))
    lines = text.splitlines()
    assert [ln for ln in lines if ln.startswith("listener ")] == ["listener 8883 127.0.0.1"]
    after = lines[lines.index("listener 8883 127.0.0.1") + 1:]
    assert after[:4] == ["certfile /s/server.crt", "keyfile /s/server.key",
                         "cafile /s/ca.crt", "require_certificate false"]
    assert "allow_anonymous false" in lines
    assert "plugin /usr/lib/p.so" in lines and "plugin_opt_config_file /s/ds.json" in lines


def test_username_as_clientid_belongs_to_the_listener() -> None:
    # Before any listener line Mosquitto would open a default listener on 1883.
    lines = render_config(BrokerConfig(
        port=8883, state_dir=Path("/s"), listener_tls=True, use_username_as_clientid=True,
        password_file=Path("/s/passwords"), acl_file=Path("/s/acl"), **TLS)).splitlines()
    assert lines.index("use_username_as_clientid true") > lines.index("listener 8883 127.0.0.1")
    assert "allow_anonymous false" in lines


def test_invalid_secure_settings_are_refused() -> None:
    with pytest.raises(ConfigError):
        BrokerConfig(listener_tls=True)
    with pytest.raises(ConfigError):
        BrokerConfig(dynsec_plugin=Path("/p.so"))
    with pytest.raises(ConfigError):
        SecureBrokerConfig(certfile=Path("/c"))
    with pytest.raises(ConfigError):
        SecureBrokerConfig(auth="ldap")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SecureBrokerConfig(identities=(Identity.parse("a2a-mqtt/admin/admin", "requester"),))
    twice = Identity.parse("a/b/c", "agent")
    with pytest.raises(ConfigError):
        SecureBrokerConfig(identities=(twice, Identity.parse("a/b/c", "requester")))
