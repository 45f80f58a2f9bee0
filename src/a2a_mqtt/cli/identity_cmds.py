"""``a2a-mqtt identity add|list|remove|export``: identities on a secure broker.

``add``, ``list`` and ``remove`` log in as an admin identity (``broker --secure``
writes its profile) and manage the running broker through its dynamic-security
plugin. ``add`` shows the new password exactly once: on stdout, or only in a
profile file written 0600 (``--save-profile``). ``export`` writes the policy of
an identities file for another broker (Mosquitto ACL file, EMQX rules).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from a2a_mqtt.access.ca import LocalCA
from a2a_mqtt.access.control import DynsecControl
from a2a_mqtt.access.credentials import Credentials, profile_path_from_env, save_profile
from a2a_mqtt.access.export import (
    dynsec_role,
    emqx_acl_conf,
    emqx_builtin_rules,
    mosquitto_acl_file,
)
from a2a_mqtt.access.identity import ROLES, Identity, parse_identities
from a2a_mqtt.access.secrets import new_password
from a2a_mqtt.cli.common import run_async
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.mqtt_types import BrokerURL, ConnectOptions

__all__ = ["identity"]

_FORMATS = ("mosquitto-acl", "dynsec-roles", "emqx-acl", "emqx-json")


def _control(conn: Connection) -> DynsecControl:
    if conn.identity is None or conn.password is None:
        raise click.UsageError("log in as an admin identity: --profile admin (written by "
                               "`a2a-mqtt broker --secure`) or --username/--password")
    return DynsecControl(ConnectOptions(
        url=BrokerURL.parse(conn.broker), client_id=conn.identity.client_id,
        username=conn.username, password=conn.password, tls=conn.tls))


@click.group()
def identity() -> None:
    """Manage the identities of a secure broker (`a2a-mqtt broker --secure`)."""


@identity.command("add")
@connection_options
@click.argument("ref")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--pool", "pools", multiple=True, help="(agent) A pool of its unit it serves.")
@click.option("--workers", type=click.IntRange(min=0, max=64), default=0, show_default=True,
              help="(agent) Also create the logins of its worker processes (serve "
              "--workers N): REF.w0 ... with the same password and rights.")
@click.option("--grant", "grants", multiple=True,
              help="Another org, org/unit, agent or pool it may reach ('*': every org).")
@click.option("--save-profile", "profile_name", default=None,
              help="Write the credentials to this profile (0600) instead of stdout.")
@click.option("--save-to", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Profile file for --save-profile [default: $A2A_MQTT_PROFILES or "
                   "~/.config/a2a-mqtt/profiles.toml; not the admin's --profiles-file].")
@click.option("--ca-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also issue a client certificate (mTLS) from the local CA in this "
                   "directory (STATE_DIR/ca of `broker --secure`).")
@click.option("--cert-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to write the client certificate and key [default: --ca-dir/clients].")
def add(conn: Connection, ref: str, role: str, pools: tuple[str, ...], workers: int,
        grants: tuple[str, ...], profile_name: str | None, save_to: Path | None,
        ca_dir: Path | None, cert_dir: Path | None) -> None:
    """Create identity REF (org/unit/name) with ROLE; its Client ID must be REF."""
    try:
        who = Identity.parse(ref, role, pools=pools, grants=grants, workers=workers)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    password = new_password()

    async def go() -> None:
        async with _control(conn) as control:
            await control.add(who, password)

    run_async(go(), conn=conn)
    cert = key = None
    if ca_dir is not None:
        pair = LocalCA(directory=ca_dir).issue_client(directory=cert_dir or ca_dir / "clients",
                                                      identity=who.username)
        cert, key = str(pair.cert_file), str(pair.key_file)
    ca_file = conn.tls.ca_file if conn.tls is not None else None
    creds = Credentials(broker=conn.broker, username=who.username, password=password,
                        client_id=who.client_id, ca_file=ca_file, cert_file=cert, key_file=key)
    if profile_name:
        path = save_profile(profile_name, creds, save_to or profile_path_from_env())
        click.echo(f"created {who.role} {who.ref}; credentials in profile "
                   f"{profile_name!r} of {path} (mode 0600)", err=True)
        return
    click.echo(f"created {who.role} {who.ref}; the password is shown once, here:", err=True)
    click.echo(f"[profiles.{json.dumps(who.username)}]")
    for k, v in creds.as_table().items():
        click.echo(f"{k} = {json.dumps(v)}")


@identity.command("list")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(conn: Connection, as_json: bool) -> None:
    """Every identity on the broker: username (= Client ID) and role."""
    async def go() -> list[dict[str, Any]]:
        async with _control(conn) as control:
            return await control.list()

    clients = run_async(go(), conn=conn)
    rows = [{"username": c.get("username"), "clientid": c.get("clientid"),
             "description": c.get("textdescription") or c.get("textDescription"),
             "roles": [r.get("rolename") for r in c.get("roles", []) if isinstance(r, dict)]}
            for c in clients if isinstance(c.get("roles", []), list)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['username']!s:<40} {row['description'] or ''}")


@identity.command("remove")
@connection_options
@click.argument("ref")
def remove(conn: Connection, ref: str) -> None:
    """Delete identity REF; the broker disconnects it at once."""
    async def go() -> None:
        async with _control(conn) as control:
            await control.remove(ref)

    run_async(go(), conn=conn)
    click.echo(f"removed {ref}", err=True)


@identity.command("export")
@click.argument("identities_file", type=click.Path(path_type=Path, dir_okay=False,
                                                   exists=True))
@click.option("--format", "fmt", type=click.Choice(_FORMATS), required=True)
def export(identities_file: Path, fmt: str) -> None:
    """Print the policy of IDENTITIES_FILE ([[identity]] ref/role/pools/grants) for a
    broker: a Mosquitto acl_file, dynamic-security roles, or EMQX rules."""
    try:
        identities = parse_identities(identities_file.read_text())
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    if fmt == "mosquitto-acl":
        click.echo(mosquitto_acl_file(identities), nl=False)
    elif fmt == "emqx-acl":
        click.echo(emqx_acl_conf(identities), nl=False)
    elif fmt == "emqx-json":
        click.echo(json.dumps(emqx_builtin_rules(identities), indent=2))
    else:
        click.echo(json.dumps([dynsec_role(i) for i in identities], indent=2))
