"""Registry commands: ``registry serve|stats|rejected``, and the ``--registry`` readers of
``agents list|show|watch`` (flags and ``A2A_MQTT_*`` variables in, a RegistryConfig or a
RegistryClient out)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import click

from a2a_mqtt.binding.topics import AgentRef
from a2a_mqtt.cli.common import Settings, run_async
from a2a_mqtt.cli.connection import Connection, connection_options
from a2a_mqtt.cli.observability_opts import observability_options
from a2a_mqtt.cli.output import echo_json, entry_dict
from a2a_mqtt.client.discovery import AgentEntry
from a2a_mqtt.errors import ConfigError
from a2a_mqtt.observability.config import ObservabilityConfig

__all__ = ["registry", "registry_list", "registry_option", "registry_show", "registry_watch"]


def registry_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--registry URL`` (env ``A2A_MQTT_REGISTRY``): read agents from a registry."""
    return click.option(
        "--registry", "registry_url", envvar="A2A_MQTT_REGISTRY", default=None,
        help="Read agents from this registry (http://host:port) instead of subscribing "
             "to every retained card on the broker [default: the profile's `registry`, "
             "if it names one].")(f)


def _url_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--registry", "registry_url", envvar="A2A_MQTT_REGISTRY",
                        default="http://127.0.0.1:8700", show_default=True,
                        help="The registry's HTTP base URL.")(f)


async def registry_list(url: str, s: Settings, filters: dict[str, Any]) -> list[AgentEntry]:
    from a2a_mqtt.registry.client import RegistryClient  # noqa: PLC0415

    async with RegistryClient(url, timeout=s.timeout) as client:
        return await client.list(**filters)


async def registry_show(url: str, s: Settings, ref: AgentRef) -> AgentEntry:
    from a2a_mqtt.registry.client import RegistryClient  # noqa: PLC0415

    async with RegistryClient(url, timeout=s.timeout) as client:
        return await client.resolve(ref, timeout=s.timeout)


async def registry_watch(url: str, s: Settings, filters: dict[str, Any], count: int | None
                         ) -> None:
    from a2a_mqtt.registry.client import RegistryClient  # noqa: PLC0415

    seen = 0
    async with RegistryClient(url, timeout=s.timeout) as client:
        async for event in client.watch(**filters):
            if not event.entry.matches(**filters):
                continue
            if s.as_json:
                click.echo(json.dumps({"event": event.kind, **entry_dict(event.entry)}))
            else:
                click.echo(f"{event.kind:<8} {event.entry.ref!s:<40} {event.entry.status}")
            seen += 1
            if count is not None and seen >= count:
                return


@click.group()
def registry() -> None:
    """Run or query the agent registry (an index of every retained Agent Card)."""


@registry.command("serve")
@connection_options
@click.option("--org", envvar="A2A_MQTT_REGISTRY_ORG", default=None,
              help="Index only this org (default: every org).")
@click.option("--unit", envvar="A2A_MQTT_REGISTRY_UNIT", default=None,
              help="Index only this unit of --org.")
@click.option("--host", envvar="A2A_MQTT_REGISTRY_HOST", default="127.0.0.1",
              show_default=True, help="HTTP listen address.")
@click.option("--port", envvar="A2A_MQTT_REGISTRY_PORT", type=int, default=8700,
              show_default=True, help="HTTP port (0 picks a free one).")
@click.option("--admin-token", envvar="A2A_MQTT_REGISTRY_ADMIN_TOKEN", default=None,
              help="Enable PUT/DELETE /agents/{ref} for this bearer token (16+ chars).")
@click.option("--max-card-bytes", envvar="A2A_MQTT_REGISTRY_MAX_CARD_BYTES", type=int,
              default=256 * 1024, show_default=True)
@click.option("--agent", "agent_ref", envvar="A2A_MQTT_REGISTRY_AGENT",
              default="a2a-mqtt/registry/registry", show_default=True,
              help="org/unit/agent of the registry's own A2A agent; each copy needs its own.")
@click.option("--no-agent", is_flag=True, help="Do not serve the A2A query agent.")
@click.option("--public-broker-url", envvar="A2A_MQTT_PUBLIC_BROKER", default=None,
              help="Broker URL written into the registry agent's card.")
@click.option("--stale-after", envvar="A2A_MQTT_REGISTRY_STALE_AFTER", type=float,
              default=None, help="Clear cards offline for longer than this many seconds.")
@click.option("--stale-dry-run", envvar="A2A_MQTT_REGISTRY_STALE_DRY_RUN", is_flag=True,
              help="With --stale-after: only report what would be cleared.")
@click.option("--stale-interval", envvar="A2A_MQTT_REGISTRY_STALE_INTERVAL", type=float,
              default=None, help="Seconds between stale sweeps.")
@observability_options(port=False)
def serve(conn: Connection, org: str | None,
          unit: str | None, host: str, port: int, admin_token: str | None,
          max_card_bytes: int, agent_ref: str, no_agent: bool,
          public_broker_url: str | None, stale_after: float | None, stale_dry_run: bool,
          stale_interval: float | None, observability: ObservabilityConfig) -> None:
    """Index the discovery namespace and answer over HTTP and A2A until interrupted."""
    from a2a_mqtt.registry import (  # noqa: PLC0415
        RegistryConfig,
        RegistryServer,
        StalePolicy,
    )

    if (stale_dry_run or stale_interval is not None) and stale_after is None:
        raise click.BadParameter("needs --stale-after", param_hint="--stale-dry-run")
    try:
        stale = None if stale_after is None else StalePolicy(
            max_offline_age=stale_after, dry_run=stale_dry_run, interval=stale_interval)
        config = RegistryConfig(
            connection=conn.settings, org=org, unit=unit,
            http_host=host, http_port=port, admin_token=admin_token,
            max_card_bytes=max_card_bytes, stale=stale, public_broker_url=public_broker_url,
            agent_ref=None if no_agent else AgentRef.parse(agent_ref),
            observability=observability)
        if conn.identity is not None:
            # The indexing connection's Client ID is the identity's.
            config = dataclasses.replace(config, ingest_org=conn.identity.org,
                                         ingest_unit=conn.identity.unit,
                                         ingest_id=conn.identity.name)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc

    server = RegistryServer(config)

    def started() -> None:
        click.echo(server.url)
        click.echo(f"registry on {server.url} indexing {conn.broker} (Ctrl-C to stop)",
                   err=True)

    run_async(server.serve(on_ready=started), conn=conn)


@registry.command("stats")
@_url_option
def stats(registry_url: str) -> None:
    """Print a registry's statistics (JSON)."""
    from a2a_mqtt.registry.client import RegistryClient  # noqa: PLC0415

    async def go() -> dict[str, Any]:
        async with RegistryClient(registry_url) as client:
            return await client.stats()
    echo_json(run_async(go()))


@registry.command("rejected")
@_url_option
@click.option("--org", default=None)
@click.option("--unit", default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rejected(registry_url: str, org: str | None, unit: str | None, as_json: bool) -> None:
    """List cards the registry refused, with the reasons."""
    from a2a_mqtt.registry.client import RegistryClient  # noqa: PLC0415

    async def go() -> list[dict[str, Any]]:
        async with RegistryClient(registry_url) as client:
            return await client.rejected(org=org, unit=unit)
    items = run_async(go())
    if as_json:
        echo_json(items)
        return
    for item in items:
        click.echo(f"{item['topic']}\n    " + "\n    ".join(item["reasons"]))
    if not items:
        click.echo("no rejected cards", err=True)


if __name__ == "__main__":
    registry()
