"""Parsers of identities, grants and profiles take any text: a clear ConfigError or a
value, never another exception; secrets never show in a config's repr; the CLI's
connection settings resolve flag > variable > profile."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_mqtt.access.credentials import Credentials, save_profile
from a2a_mqtt.access.identity import Grant, Identity, parse_identities
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.connection import DEFAULT_BROKER, resolve_connection
from a2a_mqtt.client.config import RequesterConfig
from a2a_mqtt.connection import ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor, echo_card
from a2a_mqtt.server.config import AgentConfig
from a2a_mqtt.transport.base import BrokerURL, ConnectOptions, TLSConfig

SECRET = "s3cr3t-Pa55w0rd-value"
levels = st.lists(st.sampled_from(["a", "b.c", "pool", "*", "", "x+y", "#", " ", "é"]),
                  min_size=0, max_size=5).map("/".join)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=30), levels),
       role=st.sampled_from(["agent", "requester", "admin", "root", ""]))
def test_identity_and_grant_parsers_fail_only_with_config_errors(text: str, role: str) -> None:
    for parse in (lambda: Identity.parse(text, role), lambda: Grant.parse(text),
                  lambda: Identity.parse("a/b/c", "requester", grants=(text,))):
        with contextlib.suppress(ConfigError):
            parse()


@settings(derandomize=True, max_examples=150, deadline=None)
@given(text=st.text(max_size=120))
def test_identities_file_parser_fails_only_with_config_errors(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_identities(text)


def test_identities_file_round_trip() -> None:
    got = parse_identities('[[identity]]\nref = "a/b/c"\nrole = "agent"\npools = ["p"]\n'
                           '[[identity]]\nref = "a/b/d"\nrole = "requester"\ngrants = ["*"]\n')
    assert got == (Identity.parse("a/b/c", "agent", pools=("p",)),
                   Identity.parse("a/b/d", "requester", grants=("*",)))


def test_no_config_shows_a_password_in_its_repr() -> None:
    url = BrokerURL.parse(f"mqtts://user:{SECRET}@host:8883")
    values = [
        url,
        ConnectOptions(url=url, client_id="a/b/c", password=SECRET,
                       tls=TLSConfig(key_password=SECRET)),
        RequesterConfig(connection=ConnectionSettings(password=SECRET)),
        Credentials(password=SECRET),
    ]
    values.append(AgentConfig(ref=AgentRef.parse("a/b/c"), card=echo_card(),
                              executor=EchoExecutor(),
                              connection=ConnectionSettings(password=SECRET)))
    for value in values:
        assert SECRET not in repr(value), type(value).__name__


def test_connection_precedence_flag_over_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    save_profile("line", Credentials(broker="mqtts://h:8883", username="acme/line1/op",
                                     password="from-profile", ca_file="/ca.crt"), path)
    conn = resolve_connection(Credentials(password="from-flag"), profile="line",
                              profiles_file=path)
    assert conn.broker == "mqtts://h:8883" and conn.password == "from-flag"
    assert conn.identity == AgentRef.parse("acme/line1/op")  # the username is the identity
    assert conn.tls is not None and conn.tls.ca_file == "/ca.crt" and conn.explicit_broker
    bare = resolve_connection(Credentials(username="plain-user"), profile=None,
                              profiles_file=path, state_file=tmp_path / "no-broker")
    assert bare.broker == DEFAULT_BROKER and bare.identity is None and bare.tls is None
    assert not bare.explicit_broker
    with pytest.raises(ConfigError):
        resolve_connection(Credentials(client_id="not/an"), profile=None, profiles_file=path)
