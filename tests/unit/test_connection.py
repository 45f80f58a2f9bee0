"""ConnectionSettings: the one credential rule, validation, and what reaches the transport."""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mqtt_types import TLSConfig, Will

_URL = "mqtt://alice:s3cret@broker.example:1883"


@pytest.mark.parametrize(("settings", "expected"), [
    # Nothing anywhere: anonymous.
    (ConnectionSettings(url="mqtt://h:1883"), (None, None)),
    # URL userinfo alone.
    (ConnectionSettings(url=_URL), ("alice", "s3cret")),
    # Explicit fields win over the URL's.
    (ConnectionSettings(url=_URL, username="bob", password="pw"), ("bob", "pw")),
    # An explicit password with the URL's user.
    (ConnectionSettings(url=_URL, password="new"), ("alice", "new")),
    # The URL's password goes with the URL's own user...
    (ConnectionSettings(url=_URL, username="alice"), ("alice", "s3cret")),
    # ...never with another name.
    (ConnectionSettings(url=_URL, username="bob"), ("bob", None)),
    # An empty explicit username counts as set.
    (ConnectionSettings(url=_URL, username=""), ("", None)),
    # A password without a username (MQTT 5 allows it).
    (ConnectionSettings(url="mqtt://h", password="pw"), (None, "pw")),
    # Percent-encoded userinfo is decoded.
    (ConnectionSettings(url="mqtt://a%2Fb%2Fc:p%40ss@h"), ("a/b/c", "p@ss")),
], ids=["anonymous", "url", "explicit-wins", "explicit-password", "same-user",
        "other-user", "empty-username", "password-only", "percent-encoded"])
def test_the_credential_rule(settings: ConnectionSettings,
                             expected: tuple[str | None, str | None]) -> None:
    assert settings.credentials() == expected
    options = settings.connect_options(client_id="a/b/c")
    assert (options.username, options.password) == expected


def test_the_transport_gets_a_url_without_userinfo() -> None:
    """No later layer can apply a fallback of its own: the URL it gets has no credentials."""
    options = ConnectionSettings(url=_URL, username="bob").connect_options(client_id="x")
    assert (options.url.username, options.url.password) == (None, None)
    assert (options.url.host, options.url.port) == ("broker.example", 1883)


def test_connect_options_carry_every_setting() -> None:
    tls = TLSConfig(ca_file="/ca.pem")
    will = Will(topic="t", payload=b"x")
    settings = ConnectionSettings(url="mqtts://h", tls=tls, keepalive=7, connect_timeout=2.5)
    options = settings.connect_options(client_id="o/u/a", clean_start=False,
                                       session_expiry=60, will=will, ack_timeout=9.0,
                                       user_properties=(("k", "v"),))
    assert options.url.tls and options.url.port == 8883
    assert (options.client_id, options.tls, options.keepalive, options.connect_timeout) == (
        "o/u/a", tls, 7, 2.5)
    assert (options.clean_start, options.session_expiry_interval, options.will) == (
        False, 60, will)
    assert (options.ack_timeout, options.user_properties) == (9.0, (("k", "v"),))


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"url": "http://x"}, "unsupported broker URL scheme"),
    ({"url": "mqtt://"}, "has no host"),
    ({"keepalive": 0}, "keepalive must be positive"),
    ({"connect_timeout": -1}, "connect_timeout must be positive"),
])
def test_bad_settings_are_refused_at_construction(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        ConnectionSettings(**kwargs)  # type: ignore[arg-type]


def test_the_library_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_MQTT_USERNAME", "env-user")
    monkeypatch.setenv("A2A_MQTT_PASSWORD", "env-pass")
    monkeypatch.setenv("A2A_MQTT_BROKER", "mqtt://elsewhere:1")
    settings = ConnectionSettings()
    assert settings.credentials() == (None, None)
    assert settings.display_url() == "mqtt://127.0.0.1:1883"
    assert "env-pass" in os.environ.values()  # the variable was there; it was not read


@given(user=st.text(min_size=1, max_size=20), password=st.text(min_size=1, max_size=20),
       explicit_user=st.none() | st.text(max_size=20),
       explicit_password=st.none() | st.text(max_size=20))
def test_the_rule_holds_for_any_values(user: str, password: str, explicit_user: str | None,
                                       explicit_password: str | None) -> None:
    url = f"mqtt://{quote(user, safe='')}:{quote(password, safe='')}@h:1883"
    settings = ConnectionSettings(url=url, username=explicit_user, password=explicit_password)
    got_user, got_password = settings.credentials()
    assert got_user == (explicit_user if explicit_user is not None else user)
    if explicit_password is not None:
        assert got_password == explicit_password
    elif got_user == user:
        assert got_password == password
    else:
        assert got_password is None  # the URL's password never goes with another name
    # Neither password ever shows in the printed forms.
    for shown in (repr(settings), settings.display_url()):
        assert f":{quote(password, safe='')}@" not in shown
        if explicit_password:
            assert f"password={explicit_password!r}" not in shown


def test_repr_and_display_hide_passwords() -> None:
    settings = ConnectionSettings(url=_URL, password="explicit-secret")
    for shown in (repr(settings), str(settings), settings.display_url()):
        assert "s3cret" not in shown and "explicit-secret" not in shown
    assert settings.display_url() == "mqtt://broker.example:1883"
