"""How every CLI command connects: flags, ``A2A_MQTT_*`` variables and named profiles.

Precedence, per field: flag, then environment variable, then the profile
(``--profile NAME`` / ``A2A_MQTT_PROFILE``, from ``--profiles-file`` /
``A2A_MQTT_PROFILES``, default ``~/.config/a2a-mqtt/profiles.toml``), then the
default. The broker URL's default is the one a running ``a2a-mqtt broker``
announced in its state file (cli/state.py), else ``mqtt://127.0.0.1:1883``.
A profile may also name a registry (``registry = "http://host:8700"``), which
``agents list|show|watch`` then read instead of the broker. A profile keeps
secrets off command lines and out of shell history; ``--password`` exists for
completeness but a profile or ``A2A_MQTT_PASSWORD`` is the way to pass one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import click

from a2a_mqtt.access.credentials import DEFAULT_PROFILES, Credentials, load_profile
from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.state import broker_state_file, read_broker_url
from a2a_mqtt.connection import DEFAULT_BROKER_URL, ConnectionSettings
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mqtt_types import TLSConfig

__all__ = ["DEFAULT_BROKER", "Connection", "connection_options", "resolve_connection"]

DEFAULT_BROKER: Final = DEFAULT_BROKER_URL


@dataclass(frozen=True, slots=True)
class Connection:
    """The resolved connection settings of one command."""

    broker: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TLSConfig | None = None
    #: The client's own identity (``org/unit/name``): its Client ID on a secure broker.
    identity: AgentRef | None = None
    #: Whether the broker URL was given (flag, variable or profile) rather than defaulted.
    explicit_broker: bool = False
    #: Where the broker URL came from, for error messages.
    broker_source: str = "default"
    #: The registry URL of the profile (``--registry``/``A2A_MQTT_REGISTRY`` win over it).
    registry: str | None = None

    def describe_broker(self) -> str:
        return f"broker {self.broker} ({self.broker_source})"

    @property
    def settings(self) -> ConnectionSettings:
        """What every command hands its config: the one place the CLI builds it (a bad
        broker URL raises ConfigError here, reported by the command)."""
        return ConnectionSettings(url=self.broker, username=self.username,
                                  password=self.password, tls=self.tls)


def resolve_connection(given: Credentials, *, profile: str | None,
                       profiles_file: Path, state_file: Path | None = None) -> Connection:
    """Merge ``given`` (flags and variables) over the named profile; without a broker
    URL, use the one in ``state_file`` (default: the user's broker state file)."""
    creds = given
    if profile:
        creds = load_profile(profile, profiles_file).merged(given)
    identity = None
    if creds.client_id is not None:
        identity = AgentRef.parse(creds.client_id)
    elif creds.username is not None and creds.username.count("/") == 2:
        # A username shaped like org/unit/name is a secure broker's identity.
        try:
            identity = AgentRef.parse(creds.username)
        except ConfigError:
            identity = None
    broker, source = creds.broker, "given"
    if given.broker is None and broker is not None:
        source = f"profile {profile}"
    if broker is None:
        state = state_file or broker_state_file()
        broker, source = read_broker_url(state), f"from {state}"
    if broker is None:
        broker, source = DEFAULT_BROKER, "default; start one with `a2a-mqtt broker`"
    return Connection(broker=broker, username=creds.username,
                      password=creds.password, tls=creds.tls(), identity=identity,
                      explicit_broker=creds.broker is not None, broker_source=source,
                      registry=creds.registry)


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection flags; the command receives ``conn: Connection``."""
    @click.option("--broker", envvar="A2A_MQTT_BROKER", default=None,
                  help=f"Broker URL (mqtt://, mqtts://, ws://, wss://) [default: the one a "
                       f"running `a2a-mqtt broker` announced, else {DEFAULT_BROKER}].")
    @click.option("--username", envvar="A2A_MQTT_USERNAME", default=None)
    @click.option("--password", envvar="A2A_MQTT_PASSWORD", default=None,
                  help="Prefer --profile or A2A_MQTT_PASSWORD: flags end up in shell history.")
    @click.option("--ca-file", envvar="A2A_MQTT_CA_FILE", default=None,
                  help="CA certificate to verify the broker (mqtts://, wss://).")
    @click.option("--cert-file", envvar="A2A_MQTT_CERT_FILE", default=None,
                  help="Client certificate (mTLS).")
    @click.option("--key-file", envvar="A2A_MQTT_KEY_FILE", default=None,
                  help="Client certificate's key (mTLS).")
    @click.option("--identity", "client_id", envvar="A2A_MQTT_IDENTITY", default=None,
                  help="This client's org/unit/name (its Client ID on a secure broker).")
    @click.option("--profile", envvar="A2A_MQTT_PROFILE", default=None,
                  help="Take connection settings from this profile.")
    @click.option("--profiles-file", envvar="A2A_MQTT_PROFILES",
                  type=click.Path(path_type=Path, dir_okay=False),
                  default=str(DEFAULT_PROFILES), show_default=True)
    @functools.wraps(f)
    def wrapper(*, broker: str | None, username: str | None, password: str | None,
                ca_file: str | None, cert_file: str | None, key_file: str | None,
                client_id: str | None, profile: str | None, profiles_file: Path,
                **kwargs: Any) -> Any:
        given = Credentials(broker=broker, username=username, password=password,
                            client_id=client_id, ca_file=ca_file, cert_file=cert_file,
                            key_file=key_file)
        try:
            conn = resolve_connection(given, profile=profile,
                                      profiles_file=profiles_file.expanduser())
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--profile/--identity") from exc
        if conn.broker_source.startswith("default"):
            # Never silently: whatever listens on :1883 may not be the broker meant.
            click.echo(f"note: using {conn.describe_broker()}", err=True)
        return f(conn=conn, **kwargs)
    return wrapper
