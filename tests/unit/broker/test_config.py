"""Rendering of the embedded broker's mosquitto.conf: pure, no process, no socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_mqtt.broker import BrokerConfig, render_config
from a2a_mqtt.errors import ConfigError

STATE = Path("/var/lib/a2a-test")


def lines(cfg: BrokerConfig) -> list[str]:
    return render_config(cfg).splitlines()


def settings(cfg: BrokerConfig, key: str) -> list[str]:
    """Values of every ``key value`` line, in order."""
    return [line.split(" ", 1)[1] for line in lines(cfg) if line.split(" ", 1)[0] == key]


def test_defaults_render_one_tcp_listener_and_the_required_globals() -> None:
    cfg = BrokerConfig(port=18830, state_dir=STATE)
    assert settings(cfg, "listener") == ["18830 127.0.0.1"]
    assert settings(cfg, "per_listener_settings") == ["false"]
    assert settings(cfg, "set_tcp_nodelay") == ["true"]
    assert settings(cfg, "allow_anonymous") == ["true"]
    assert settings(cfg, "persistence") == ["true"]
    assert settings(cfg, "persistence_location") == ["/var/lib/a2a-test/"]
    assert settings(cfg, "log_dest") == ["stdout"]
    assert settings(cfg, "max_inflight_messages") == ["1000"]
    assert "user" not in {line.split(" ")[0] for line in lines(cfg)}


def test_queue_is_unlimited_but_capped_in_bytes() -> None:
    cfg = BrokerConfig(port=18830, state_dir=STATE)
    assert settings(cfg, "max_queued_messages") == ["0"]
    assert int(settings(cfg, "max_queued_bytes")[0]) >= 64 * 1024 * 1024


def test_no_inline_comments_and_only_known_line_shapes() -> None:
    cfg = BrokerConfig(
        port=18830,
        state_dir=STATE,
        websockets_port=18831,
        password_file=Path("/etc/pw"),
        acl_file=Path("/etc/acl"),
        user="root",
        tls_port=18832,
        tls_certfile=Path("/c.pem"),
        tls_keyfile=Path("/k.pem"),
        tls_cafile=Path("/ca.pem"),
        autosave_interval=5,
        persistent_client_expiration="2h",
    )
    for line in lines(cfg):
        assert line == line.strip(), line
        if line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        assert key.isidentifier(), line
        assert "#" not in value, f"inline comment in {line!r}"


def test_websockets_adds_a_listener_after_the_tcp_one() -> None:
    cfg = BrokerConfig(port=18830, state_dir=STATE, websockets_port=18831)
    rendered = lines(cfg)
    tcp = rendered.index("listener 18830 127.0.0.1")
    ws = rendered.index("listener 18831 127.0.0.1")
    assert tcp < ws
    assert rendered[ws + 1] == "protocol websockets"
    assert settings(cfg, "protocol") == ["websockets"]


def test_password_file_turns_anonymous_off_unless_asked() -> None:
    cfg = BrokerConfig(port=1, state_dir=STATE, password_file=Path("/etc/pw"))
    assert settings(cfg, "allow_anonymous") == ["false"]
    assert settings(cfg, "password_file") == ["/etc/pw"]
    cfg = BrokerConfig(port=1, state_dir=STATE, password_file=Path("/etc/pw"), allow_anonymous=True)
    assert settings(cfg, "allow_anonymous") == ["true"]


def test_auth_options_appear_once_globally_before_any_listener() -> None:
    cfg = BrokerConfig(
        port=18830,
        state_dir=STATE,
        websockets_port=18831,
        password_file=Path("/etc/pw"),
        acl_file=Path("/etc/acl"),
    )
    rendered = lines(cfg)
    first_listener = next(i for i, line in enumerate(rendered) if line.startswith("listener "))
    for key in ("password_file", "acl_file", "allow_anonymous"):
        found = [i for i, line in enumerate(rendered) if line.startswith(key + " ")]
        assert len(found) == 1, key
        assert found[0] < first_listener, key


def test_tls_listener_carries_its_files() -> None:
    cfg = BrokerConfig(
        port=18830,
        state_dir=STATE,
        tls_port=18883,
        tls_certfile=Path("/c.pem"),
        tls_keyfile=Path("/k.pem"),
        tls_cafile=Path("/ca.pem"),
        tls_require_certificate=True,
    )
    rendered = lines(cfg)
    start = rendered.index("listener 18883 127.0.0.1")
    assert rendered[start + 1 : start + 5] == [
        "certfile /c.pem",
        "keyfile /k.pem",
        "cafile /ca.pem",
        "require_certificate true",
    ]


def test_optional_settings() -> None:
    cfg = BrokerConfig(
        port=18830,
        state_dir=STATE,
        persistence=False,
        autosave_interval=1,
        persistent_client_expiration="14d",
        log_types=("error", "debug"),
        user="root",
        max_inflight_messages=20,
    )
    assert settings(cfg, "persistence") == ["false"]
    assert settings(cfg, "persistence_location") == []
    assert settings(cfg, "autosave_interval") == ["1"]
    assert settings(cfg, "persistent_client_expiration") == ["14d"]
    assert settings(cfg, "log_type") == ["error", "debug"]
    assert settings(cfg, "user") == ["root"]
    assert settings(cfg, "max_inflight_messages") == ["20"]
    assert settings(cfg, "log_dest") == ["stdout"]
    cfg = BrokerConfig(port=18830, state_dir=STATE, log_file=STATE / "m.log")
    assert settings(cfg, "log_dest") == ["file /var/lib/a2a-test/m.log"]


def test_ipv6_host_and_trailing_slash_state_dir() -> None:
    cfg = BrokerConfig(host="::1", port=18830, state_dir=Path("/tmp/x/"))
    assert settings(cfg, "listener") == ["18830 ::1"]
    assert settings(cfg, "persistence_location") == ["/tmp/x/"]


def test_rendering_needs_a_concrete_port_and_a_state_dir() -> None:
    with pytest.raises(ConfigError, match="port"):
        render_config(BrokerConfig(state_dir=STATE))
    with pytest.raises(ConfigError, match="state_dir"):
        render_config(BrokerConfig(port=18830))
    assert "persistence false" in render_config(BrokerConfig(port=18830, persistence=False))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"port": 70000}, "port"),
        ({"port": -1}, "port"),
        ({"port": 1883, "websockets_port": 1883}, "distinct"),
        ({"websockets_port": 0}, "websockets_port"),
        ({"max_queued_messages": -1}, "max_queued_messages"),
        ({"persistent_client_expiration": "2 hours"}, "persistent_client_expiration"),
        ({"log_types": ("loud",)}, "log_types"),
        ({"tls_port": 8883}, "tls_certfile"),
        ({"state_dir": Path("/tmp/a\nlistener 1")}, "line break"),
        ({"host": ""}, "host"),
    ],
)
def test_invalid_configs_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BrokerConfig(**kwargs)  # type: ignore[arg-type]


def test_config_is_frozen_and_keyword_only() -> None:
    cfg = BrokerConfig(port=1)
    with pytest.raises(AttributeError):
        cfg.port = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        BrokerConfig("127.0.0.1")  # type: ignore[call-arg]
